"""`pyehsm mac generate/verify`, `pyehsm random N` and `pyehsm batch encrypt/decrypt/data-key` against a server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from pyehsm.client import Client
from tests.e2e.test_cli import BINARY, cli_env, run


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_mac_commands(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_HMAC")
    (tmp_path / "msg").write_bytes(BINARY)
    made = run(["mac", "generate", "-k", keyid, f"@{tmp_path / 'msg'}", "-a", "HMAC_SM3"], env)
    assert made.exit_code == 0
    tag = base64.b64decode(made.stdout.strip())
    assert tag == client.generate_mac(keyid, BINARY, "HMAC_SM3") and len(tag) == 32
    ok = run(["mac", "verify", "-k", keyid, "-m", b64(tag), f"@{tmp_path / 'msg'}", "-a", "HMAC_SM3"], env)
    assert (ok.exit_code, ok.stdout.strip()) == (0, "valid")
    bad = run(["mac", "verify", "-k", keyid, "-m", b64(tag), "other", "-a", "HMAC_SM3", "-o", "json"], env)
    assert bad.exit_code == 1 and json.loads(bad.stdout) == {"keyid": keyid, "valid": False}
    sha = run(["mac", "generate", "-k", keyid, "text", "--raw"], env)  # default HMAC_SHA_256
    assert sha.stdout_bytes == client.generate_mac(keyid, b"text", "HMAC_SHA_256")
    refused = run(["mac", "generate", "-k", client.create_key("EH_AES_GCM_256"), "m"], env)
    assert refused.exit_code == 1 and "does not support GenerateMac" in refused.stderr


def test_random_command(client: Client) -> None:
    env = cli_env(client)
    out = run(["random", "48"], env)
    assert out.exit_code == 0 and len(base64.b64decode(out.stdout.strip())) == 48
    assert len(run(["random", "7", "--raw"], env).stdout_bytes) == 7
    too_many = run(["random", "1025"], env)
    assert too_many.exit_code == 1 and "between 1 and 1024" in too_many.stderr


def test_batch_commands(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    items = [{"keyid": keyid, "plaintext": b64(b"one")}, {"keyid": "nope", "plaintext": b64(b"x")}]
    (tmp_path / "enc.json").write_text(json.dumps(items))
    enc = run(["batch", "encrypt", str(tmp_path / "enc.json")], env)
    answers = json.loads(enc.stdout)
    assert enc.exit_code == 1  # one item failed
    assert [a["code"] for a in answers] == [200, 400] and answers[1]["message"] == "keyid error"
    ct = answers[0]["result"]["ciphertext"]
    dec = run(["batch", "decrypt", "-"], env, input=json.dumps([{"keyid": keyid, "ciphertext": ct}]).encode())
    assert dec.exit_code == 0 and json.loads(dec.stdout)[0]["result"] == {"plaintext": b64(b"one")}
    (tmp_path / "dk.json").write_text(json.dumps([{"keyid": keyid, "keylen": 16}]))
    dk = json.loads(run(["batch", "data-key", str(tmp_path / "dk.json")], env).stdout)[0]["result"]
    assert client.decrypt(keyid, base64.b64decode(dk["ciphertext"])) == base64.b64decode(dk["plaintext"])
    (tmp_path / "many.json").write_text(json.dumps(items * 51))
    whole = run(["batch", "encrypt", str(tmp_path / "many.json")], env)
    assert whole.exit_code == 1 and "at most 100 items" in whole.stderr
    (tmp_path / "bad.json").write_text('{"keyid": 1}')
    assert run(["batch", "encrypt", str(tmp_path / "bad.json")], env).exit_code == 2
