"""The client commands of the `pyehsm` CLI against a real server: through click's CliRunner and as real
subprocesses (binary data through pipes and files), credentials from flags, env and a 0600 profile file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyehsm.cli import main
from pyehsm.client import Client
from tests.support.server import ServerProcess

BINARY = bytes(range(256)) + b"\x00\xff\xfe not utf-8 \x80\x81" + bytes(range(255, -1, -1))


def cli_env(client: Client, **extra: str) -> dict[str, str]:
    return {
        "PYEHSM_URL": client.base_url,
        "PYEHSM_APPID": client.appid,
        "PYEHSM_APIKEY": client.apikey,
        "PYEHSM_CREDENTIALS_FILE": "/nonexistent/pyehsm-credentials",
        "PYEHSM_PROFILE": "",
        **extra,
    }


def run(args: Sequence[str], env: dict[str, str], input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def test_key_commands(client: Client) -> None:
    env = cli_env(client)
    created = run(["key", "create", "EH_AES_GCM_256"], env)
    assert created.exit_code == 0, created.output
    keyid = created.stdout.strip()
    signing = json.loads(run(["key", "create", "EH_EC_P256", "--usage", "sign", "-o", "json"], env).stdout)["keyid"]
    table = run(["key", "list"], env).stdout.splitlines()
    assert table[0].split() == ["KEYID", "KEYSPEC", "STATE", "USAGE", "CREATED"]
    assert {line.split()[0] for line in table[1:]} == {keyid, signing}
    assert run(["key", "disable", keyid], env).exit_code == 0
    listed = json.loads(run(["key", "list", "--output", "json"], env).stdout)
    assert {k["keyid"]: k["keyState"] for k in listed} == {keyid: 0, signing: 1}
    assert run(["key", "enable", keyid], env).exit_code == 0
    pem = run(["key", "public-key", signing], env).stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert run(["key", "delete", keyid, "--yes"], env).stdout.strip() == f"deleted {keyid}"
    assert run(["key", "delete", "--all", "--yes"], env).exit_code == 0
    assert client.list_key() == []


def test_crypto_commands_are_binary_safe(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    source = tmp_path / "plain.bin"
    source.write_bytes(BINARY)
    enc = run(["encrypt", "-k", keyid, f"@{source}", "--aad", "ctx", "--out", str(tmp_path / "ct.bin")], env)
    assert enc.exit_code == 0 and enc.stdout == ""
    dec = run(["decrypt", "-k", keyid, f"@{tmp_path / 'ct.bin'}", "--aad", "ctx", "--raw"], env)
    assert dec.exit_code == 0 and dec.stdout_bytes == BINARY
    # stdin in, base64 out, base64 literal back in
    b64_ct = run(["encrypt", "-k", keyid, "-"], env, input=BINARY).stdout.strip()
    assert run(["decrypt", "-k", keyid, b64_ct, "--raw"], env).stdout_bytes == BINARY
    dec_json = json.loads(run(["decrypt", "-k", keyid, b64_ct, "-o", "json"], env).stdout)
    assert dec_json["keyid"] == keyid and client.decrypt(keyid, client.encrypt(keyid, BINARY)) == BINARY
    # base64 text in a file
    (tmp_path / "ct.b64").write_text(b64_ct + "\n")
    assert (
        run(["decrypt", "-k", keyid, f"@{tmp_path / 'ct.b64'}", "--base64-input", "--raw"], env).stdout_bytes == BINARY
    )
    # data keys: plaintext to a private file
    out = run(
        ["generate-data-key", "-k", keyid, "--length", "24", "--plaintext-out", str(tmp_path / "dk"), "-o", "json"],
        env,
    )
    wrapped = json.loads(out.stdout)["ciphertext"]
    assert "plaintext" not in json.loads(out.stdout)
    assert (tmp_path / "dk").stat().st_mode & 0o777 == 0o600
    assert run(["decrypt", "-k", keyid, wrapped, "--raw"], env).stdout_bytes == (tmp_path / "dk").read_bytes()
    only = json.loads(run(["generate-data-key", "-k", keyid, "--without-plaintext", "-o", "json"], env).stdout)
    assert set(only) == {"keyid", "ciphertext"}


def test_sign_and_verify(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_EC_P256")
    (tmp_path / "msg").write_bytes(BINARY)
    assert run(["sign", "-k", keyid, f"@{tmp_path / 'msg'}", "--out", str(tmp_path / "sig")], env).exit_code == 0
    ok = run(["verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", f"@{tmp_path / 'msg'}"], env)
    assert (ok.exit_code, ok.stdout.strip()) == (0, "valid")
    bad = run(["verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", "another message", "-o", "json"], env)
    assert bad.exit_code == 1 and json.loads(bad.stdout) == {"keyid": keyid, "valid": False}
    rsa = client.create_key("EH_RSA_2048")
    ct = run(["asymmetric-encrypt", "-k", rsa, "-", "--raw"], env, input=b"\x00rsa\xff").stdout_bytes
    assert client.asymmetric_decrypt(rsa, ct) == b"\x00rsa\xff"


def test_secret_commands(client: Client) -> None:
    env = cli_env(client)
    value = 'multi-line\nsecret with & = % + "quotes"'
    assert run(["secret", "create", "api-token", "-", "--description", "ci"], env, input=value.encode()).exit_code == 0
    assert run(["secret", "get", "api-token", "--raw"], env).stdout == value
    assert run(["secret", "put", "api-token", "v2"], env).exit_code == 0
    assert run(["secret", "get", "api-token", "--version", "1", "--raw"], env).stdout == value
    got = json.loads(run(["secret", "get", "api-token", "-o", "json"], env).stdout)
    assert (got["secretData"], got["versionId"]) == ("v2", 2)
    assert "api-token" in run(["secret", "list"], env).stdout
    assert len(json.loads(run(["secret", "versions", "api-token", "-o", "json"], env).stdout)["versionIds"]) == 2
    assert run(["secret", "update-description", "api-token", "for CI"], env).exit_code == 0
    described = run(["secret", "describe", "api-token"], env).stdout
    assert "for CI" in described and value not in described and "v2" not in described
    assert run(["secret", "delete", "api-token", "--recovery-days", "7"], env).exit_code == 0
    refused = run(["secret", "get", "api-token"], env)
    assert refused.exit_code == 1 and "deleted" in refused.stderr
    assert run(["secret", "restore", "api-token"], env).exit_code == 0
    assert run(["secret", "get", "api-token", "--raw"], env).stdout == "v2"
    assert run(["secret", "delete", "api-token", "--force"], env).exit_code == 0
    assert run(["secret", "describe", "api-token"], env).exit_code == 1


def test_exit_codes_and_messages(client: Client) -> None:
    env = cli_env(client)
    unknown = run(["encrypt", "-k", "00000000-0000-4000-8000-000000000000", "x"], env)
    assert unknown.exit_code == 1 and "keyid error" in unknown.stderr and "NotFoundError" in unknown.stderr
    assert run(["key", "create", "EH_NOT_A_KEYSPEC"], env).exit_code == 2
    assert run(["encrypt", "x"], env).exit_code == 2  # --keyid missing
    assert run(["decrypt", "-k", "k", "not base64!"], env).exit_code == 2
    assert run(["key", "delete"], env).exit_code == 2
    no_creds = run(["key", "list"], {**env, "PYEHSM_APPID": "", "PYEHSM_APIKEY": ""})
    assert no_creds.exit_code == 2 and "no credentials" in no_creds.stderr
    forged = run(["key", "list", "--apikey", "x" * 32], env)
    assert forged.exit_code == 1 and "sign error" in forged.stderr
    unreachable = run(["key", "list", "--url", "http://127.0.0.1:9/ehsm"], env)
    assert unreachable.exit_code == 1 and "cannot reach" in unreachable.stderr


def test_profiles(server: ServerProcess, tmp_path: Path) -> None:
    creds = tmp_path / "cfg" / "credentials"
    env = {"PYEHSM_CREDENTIALS_FILE": str(creds), "PYEHSM_APPID": "", "PYEHSM_APIKEY": "", "PYEHSM_URL": ""}
    enrolled = run(["app", "enroll", "--url", server.base, "--save", "--profile", "ci", "-o", "json"], env)
    assert enrolled.exit_code == 0, enrolled.output
    appid = json.loads(enrolled.stdout)["appid"]
    assert creds.stat().st_mode & 0o777 == 0o600 and appid in creds.read_text()
    assert run(["key", "create", "EH_SM4_CTR", "--profile", "ci"], env).exit_code == 0
    assert len(json.loads(run(["key", "list", "--profile", "ci", "-o", "json"], env).stdout)) == 1
    missing = run(["key", "list", "--profile", "nope"], env)
    assert missing.exit_code == 2 and "profile 'nope' not found" in missing.stderr
    creds.chmod(0o644)
    loose = run(["key", "list", "--profile", "ci"], env)
    assert loose.exit_code == 2 and "chmod 600" in loose.stderr
    creds.chmod(0o600)
    # flags win over the profile: another app's credentials see none of the profile's keys
    with server.client() as other:
        flags = run(["key", "list", "--profile", "ci", "--appid", other.appid, "--apikey", other.apikey], env)
        assert flags.exit_code == 0 and len(flags.stdout.splitlines()) == 1


def test_subprocess_pipeline(client: Client, tmp_path: Path) -> None:
    """Real processes: `pyehsm encrypt --raw | pyehsm decrypt - --raw` round-trips arbitrary bytes."""
    keyid = client.create_key("EH_AES_GCM_128")
    env = {**os.environ, **cli_env(client)}
    pyehsm = [sys.executable, "-m", "pyehsm"]
    enc = subprocess.run(
        [*pyehsm, "encrypt", "-k", keyid, "-", "--raw"], input=BINARY, env=env, capture_output=True, check=False
    )
    assert enc.returncode == 0, enc.stderr
    dec = subprocess.run(
        [*pyehsm, "decrypt", "-k", keyid, "-", "--raw"], input=enc.stdout, env=env, capture_output=True, check=False
    )
    assert (dec.returncode, dec.stdout) == (0, BINARY)
    failed = subprocess.run(
        [*pyehsm, "decrypt", "-k", keyid, "-", "--raw"],
        input=enc.stdout[:-1],
        env=env,
        capture_output=True,
        check=False,
    )
    assert failed.returncode == 1 and b"Decrypt failed" in failed.stderr and failed.stdout == b""
    usage = subprocess.run([*pyehsm, "secret", "get"], env=env, capture_output=True, check=False)
    assert usage.returncode == 2


@pytest.mark.parametrize("command", ["key", "secret", "app"])
def test_groups_list_their_commands(command: str) -> None:
    out = CliRunner().invoke(main, [command, "--help"]).output
    expected = {
        "key": ["create", "list", "enable", "disable", "delete", "public-key", "import", "rotate", "rotation"],
        "secret": ["create", "get", "put", "list", "describe", "delete", "restore", "versions"],
        "app": ["enroll"],
    }[command]
    assert all(f"  {name} " in out or f"  {name}\n" in out for name in expected), out
