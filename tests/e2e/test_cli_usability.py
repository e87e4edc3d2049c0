"""The `pyehsm` client CLI against a real server: SM2 import wrapping, encrypt | decrypt pipes, -o json
for results and errors, delete confirmation, `pyehsm configure` profiles, ISO 8601 times, size limits,
help texts and shell completion."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from click.testing import CliRunner

from pyehsm.cli import main
from pyehsm.client import Client
from tests.e2e.test_cli import BINARY, cli_env, run
from tests.support.server import ServerProcess

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_key_import_wrapped_under_sm2(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY")
    material = base64.b64encode(bytes(range(32))).decode()
    imported = run(["key", "import", keyid, material, "--wrapping-keyspec", "EH_SM2"], env)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.strip() == f"imported key material into {keyid}"
    assert client.decrypt(keyid, client.encrypt(keyid, b"after sm2 import")) == b"after sm2 import"


def test_encrypt_output_pipes_into_decrypt(client: Client) -> None:
    """What encrypt and sign print by default (base64), decrypt and verify read from stdin by default."""
    env = {**os.environ, **cli_env(client)}
    keyid = client.create_key("EH_AES_GCM_256")
    pyehsm = [sys.executable, "-m", "pyehsm"]
    shell = f"{' '.join(pyehsm)} encrypt -k {keyid} - | {' '.join(pyehsm)} decrypt -k {keyid} - --raw"
    piped = subprocess.run(shell, shell=True, input=BINARY, env=env, capture_output=True, check=False)
    assert (piped.returncode, piped.stdout) == (0, BINARY), piped.stderr
    ec = client.create_key("EH_EC_P256")
    signature = run(["sign", "-k", ec, "message"], cli_env(client)).stdout
    ok = run(["verify", "-k", ec, "-s", "-", "message"], cli_env(client), input=signature.encode())
    assert (ok.exit_code, ok.stdout.strip()) == (0, "valid")


def test_json_output_for_results_and_errors(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    unknown = run(["encrypt", "-k", "00000000-0000-4000-8000-000000000000", "x", "-o", "json"], env)
    assert unknown.exit_code == 1 and unknown.stdout == ""
    error = json.loads(unknown.stderr)["error"]
    assert error["type"] == "NotFoundError" and "keyid" in error["message"] and error["code"] == 400
    bad_input = run(["decrypt", "-k", keyid, "not base64!", "-o", "json"], env)
    assert bad_input.exit_code == 2 and "base64" in json.loads(bad_input.stderr)["error"]["message"]
    no_creds = run(["key", "list", "-o", "json"], {**env, "PYEHSM_APPID": "", "PYEHSM_APIKEY": ""})
    assert no_creds.exit_code == 2 and "no credentials" in json.loads(no_creds.stderr)["error"]["message"]
    unreachable = run(["key", "list", "--url", "http://127.0.0.1:9/ehsm", "-o", "json"], env)
    assert unreachable.exit_code == 1 and "cannot reach" in json.loads(unreachable.stderr)["error"]["message"]
    big = run(["encrypt", "-k", keyid, "-", "-o", "json"], env, input=b"x" * 7000)
    assert big.exit_code == 2 and "encrypt-file" in json.loads(big.stderr)["error"]["message"]
    disabled = json.loads(run(["key", "disable", keyid, "-o", "json"], env).stdout)
    assert disabled == {"result": "ok", "keyid": keyid}


def test_key_delete_asks_first(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    declined = run(["key", "delete", keyid], env, input=b"n\n")
    assert declined.exit_code == 1 and f"Delete key {keyid}?" in declined.stderr
    assert [k.keyid for k in client.list_key()] == [keyid]
    no_answer = run(["key", "delete", keyid], env)  # no terminal, no input: nothing is deleted
    assert no_answer.exit_code == 1 and [k.keyid for k in client.list_key()] == [keyid]
    declined_json = run(["key", "delete", keyid, "-o", "json"], env, input=b"n\n")
    assert (
        declined_json.exit_code == 1 and json.loads(declined_json.stderr.splitlines()[-1])["error"]["type"] == "Aborted"
    )
    confirmed = run(["key", "delete", keyid], env, input=b"y\n")
    assert confirmed.exit_code == 0 and client.list_key() == []
    other = client.create_key("EH_AES_GCM_256")
    assert run(["key", "delete", other, "-y"], env).exit_code == 0 and client.list_key() == []


def test_configure_writes_a_private_profile_later_commands_use(server: ServerProcess, tmp_path: Path) -> None:
    creds = tmp_path / "cfg" / "credentials"
    env = {"PYEHSM_CREDENTIALS_FILE": str(creds), "PYEHSM_APPID": "", "PYEHSM_APIKEY": "", "PYEHSM_URL": ""}
    with server.client() as app:
        answers = f"{server.base}\n{app.appid}\n{app.apikey}\n".encode()
        prompted = run(["configure", "--profile", "team"], env, input=answers)
        assert prompted.exit_code == 0, prompted.output
        assert app.apikey not in prompted.output  # the apikey prompt does not echo
        assert creds.stat().st_mode & 0o777 == 0o600 and creds.parent.stat().st_mode & 0o777 == 0o700
        assert run(["key", "create", "EH_AES_GCM_256", "--profile", "team"], env).exit_code == 0
        assert len(app.list_key()) == 1
        wrong = run(["login", "--url", server.base, "--appid", app.appid, "--apikey", "x" * 32, "--no-input"], env)
        assert wrong.exit_code == 1 and "sign error" in wrong.stderr
        assert "[default]" not in creds.read_text()  # refused credentials are not saved
        bundle = tmp_path / "ca.pem"
        bundle.write_text("not a certificate\n")
        saved = run(
            [
                "login",
                "--url",
                server.base,
                "--appid",
                app.appid,
                "--apikey",
                app.apikey,
                "--no-check",
                "--no-input",
                "--ca-bundle",
                str(bundle),
                "-o",
                "json",
            ],
            env,
        )
        assert saved.exit_code == 0 and json.loads(saved.stdout)["profile"] == "default"
        assert f"ca_bundle = {bundle}" in creds.read_text()
        # the profile's ca_bundle reaches the SDK's verify=: a file that is no CA bundle is refused, clearly
        refused = run(["key", "list"], env)
        assert refused.exit_code == 1 and "cannot load the CA bundle" in refused.stderr
        assert "Traceback" not in refused.output
        real = run(["configure", "--ca-bundle", certifi.where(), "--no-input"], env)
        assert real.exit_code == 0 and run(["key", "list"], env).exit_code == 0
        via_env = run(["key", "list"], {**env, "PYEHSM_CA_BUNDLE": str(bundle)})
        assert via_env.exit_code == 1 and str(bundle) in via_env.stderr


def test_tables_print_iso_times_json_keeps_raw(client: Client) -> None:
    env = cli_env(client)
    client.create_key("EH_AES_GCM_256")
    row = run(["key", "list"], env).stdout.splitlines()[1].split()
    assert ISO.match(row[-1]), row
    assert isinstance(json.loads(run(["key", "list", "-o", "json"], env).stdout)[0]["creationDate"], int)
    client.create_secret("token", "value")
    assert ISO.match(run(["secret", "list"], env).stdout.splitlines()[1].split()[1])
    assert ISO.match(run(["secret", "versions", "token"], env).stdout.splitlines()[1].split()[1])
    created = next(line for line in run(["secret", "describe", "token"], env).stdout.splitlines() if "created" in line)
    assert ISO.match(created.split()[1]), created


def test_large_input_errors_name_the_limit_and_the_way_round(client: Client) -> None:
    env = cli_env(client)
    aes, ec = client.create_key("EH_AES_GCM_256"), client.create_key("EH_EC_P256")
    too_big = run(["encrypt", "-k", aes, "-"], env, input=b"x" * 6145)
    assert too_big.exit_code == 2 and "at most 6144 bytes" in too_big.stderr and "encrypt-file" in too_big.stderr
    assert run(["encrypt", "-k", aes, "-"], env, input=b"x" * 6144).exit_code == 0
    sign_big = run(["sign", "-k", ec, "-"], env, input=b"x" * 7000)
    assert sign_big.exit_code == 2 and "6144" in sign_big.stderr and "--file" in sign_big.stderr


def test_help_texts() -> None:
    runner = CliRunner()
    key_help = runner.invoke(main, ["key", "--help"]).output
    assert "Enable a key" in key_help and "Disable a key" in key_help
    assert "Enabled a key" not in key_help and "Disabled a key" not in key_help
    helps = {}
    for command in ("serve", "enroll", "migrate", "backup", "restore", "export", "import"):
        text = " ".join(runner.invoke(main, [command, "--help"], terminal_width=200).output.split())
        helps[command] = re.search(r"--data-dir PATH (.*?\)\.)", text)
    assert all(helps.values()), helps
    expected = "Data directory (default $PYEHSM_DATA_DIR, else ./pyehsm-data)."
    assert {m.group(1) for m in helps.values() if m} == {expected}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script(shell: str) -> None:
    result = CliRunner().invoke(main, [], prog_name="pyehsm", env={"_PYEHSM_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0 and "_PYEHSM_COMPLETE" in result.output
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    assert f"_PYEHSM_COMPLETE={shell}_source pyehsm" in docs


def test_serve_bad_option_value_is_one_line(tmp_path: Path) -> None:
    """A malformed --pool-depth is refused before anything starts, with a message, not a traceback."""
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path), "--pool-depth", "0"], prog_name="pyehsm")
    assert result.exit_code != 0
    assert "bad --pool-depth entry '0'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "root.key").exists()  # nothing was created
