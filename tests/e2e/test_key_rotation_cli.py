"""`pyehsm key rotate`, `key rotation set|list`, `key min-version` and `pyehsm reencrypt` against a real server."""

from __future__ import annotations

import base64
import json

from pyehsm.client import Client
from tests.e2e.test_cli import cli_env, run


def test_rotation_commands(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    old = client.encrypt(keyid, b"kept", aad=b"ctx")
    assert run(["key", "rotate", keyid], env).stdout.strip() == f"rotated {keyid}: version 2 is primary"
    assert json.loads(run(["key", "rotate", keyid, "-o", "json"], env).stdout) == {
        "result": "ok",
        "keyid": keyid,
        "version": 3,
    }
    table = run(["key", "rotation", "list", keyid], env).stdout.splitlines()
    assert table[0].split() == ["VERSION", "CREATED", "MADE", "STATE", "PRIMARY"]
    assert [line.split()[2:] for line in table[1:]] == [
        ["Created", "Enabled"],
        ["OnDemand", "Enabled"],
        ["OnDemand", "Enabled", "*"],
    ]
    settings = json.loads(run(["key", "rotation", "set", keyid, "365", "-o", "json"], env).stdout)
    assert settings["rotationPeriodInDays"] == 365 and settings["nextRotationDate"] > 0
    assert "rotationPeriodInDays  off" in run(["key", "rotation", "set", keyid, "off"], env).stdout
    refused = run(["key", "rotation", "set", keyid, "30"], env)
    assert refused.exit_code == 1 and "must be between 90 and 2560" in refused.stderr
    assert run(["key", "rotation", "set", keyid, "soon"], env).exit_code == 2
    assert json.loads(run(["key", "min-version", keyid, "3", "-o", "json"], env).stdout)["minDecryptionVersion"] == 3
    refused = run(["decrypt", "-k", keyid, "--aad", "ctx", client_b64(old)], env)
    assert refused.exit_code == 1 and "minimum decryption version" in refused.stderr
    run(["key", "min-version", keyid, "1"], env)
    args = ["reencrypt", "-k", keyid, "--aad", "ctx", "--to-aad", "new", client_b64(old), "-o", "json"]
    moved = json.loads(run(args, env).stdout)
    assert moved["keyVersion"] == 3
    assert client.decrypt(keyid, base64.b64decode(moved["ciphertext"]), aad=b"new") == b"kept"


def client_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
