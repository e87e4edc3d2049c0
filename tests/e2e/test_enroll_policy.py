"""Enroll policies: open (the loopback default), token (PYEHSM_ADMIN_TOKEN), closed, and the offline
`pyehsm enroll --data-dir` that works whatever the policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec

from pyehsm.client import Client
from tests.support.server import NO_POOL_ARGS, ServerProcess

# no background key-pair generation: these servers only need symmetric keys quickly

ADMIN_TOKEN = "t0k3n-for-the-enroll-policy-test-0123456789"
TOKEN_REQUIRED = "Enroll refused: this server requires an admin token (X-Pyehsm-Admin-Token)."
TOKEN_INVALID = "Enroll refused: the admin token is not valid."
CLOSED = "Enroll refused: enrollment is closed on this server; ask its operator."
HTTP = httpx.Client(timeout=30)


def enroll(server: ServerProcess, token: str | None = None, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    headers = {"X-Pyehsm-Admin-Token": token} if token is not None else {}
    resp = HTTP.request(method, f"{server.base}/?Action=Enroll", headers=headers)
    assert resp.status_code == 200
    assert ADMIN_TOKEN not in resp.text
    data = msgspec.json.decode(resp.content)
    return data["code"], data["message"], data["result"]


def test_open_policy_is_the_loopback_default(server: ServerProcess) -> None:
    code, _, result = enroll(server)
    assert code == 200 and set(result) == {"appid", "apikey"}


def test_token_policy(tmp_path: Path) -> None:
    env = {"PYEHSM_ADMIN_TOKEN": ADMIN_TOKEN}
    server = ServerProcess(tmp_path / "data", "--enroll-policy", "token", *NO_POOL_ARGS, env=env).start()
    try:
        for method in ("GET", "POST"):
            assert enroll(server, method=method) == (400, TOKEN_REQUIRED, {})
            assert enroll(server, "wrong", method) == (400, TOKEN_INVALID, {})
            assert enroll(server, ADMIN_TOKEN[:-1], method) == (400, TOKEN_INVALID, {})
        code, message, result = enroll(server, ADMIN_TOKEN)
        assert code == 200 and "success" in message.lower()
        c = Client(server.base, result["appid"], result["apikey"], http=HTTP)
        keyid = c.create_key("EH_AES_GCM_128")
        assert c.decrypt(keyid, c.encrypt(keyid, b"token app")) == b"token app"
        assert Client.enroll(server.base, admin_token=ADMIN_TOKEN, http=HTTP).list_keys() == []
    finally:
        server.stop()
    assert ADMIN_TOKEN not in server.log()
    assert "Traceback" not in server.log()

    # token policy without a token configured: refused at start
    no_token = {**os.environ, "PYEHSM_ADMIN_TOKEN": ""}
    code, output = ServerProcess(tmp_path / "data", "--enroll-policy", "token", env=no_token).run_to_exit()
    assert code != 0 and "needs PYEHSM_ADMIN_TOKEN" in output


def test_closed_policy_and_offline_enroll(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, "--enroll-policy", "closed", *NO_POOL_ARGS).start()
    try:
        for method in ("GET", "POST"):
            assert enroll(server, method=method) == (400, CLOSED, {})
            assert enroll(server, ADMIN_TOKEN, method) == (400, CLOSED, {})
        out = subprocess.run(
            [sys.executable, "-m", "pyehsm", "enroll", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        match = re.fullmatch(r"appid: (\S+)\napikey: (\S+)\n", out)
        assert match, out
        appid, apikey = match.groups()
        c = Client(server.base, appid, apikey, http=HTTP)  # the running server knows the new app at once
        keyid = c.create_key("EH_SM4_CTR")
        assert c.decrypt(keyid, c.encrypt(keyid, b"offline app")) == b"offline app"
        assert [k["keyid"] for k in c.list_keys()] == [keyid]
        assert apikey not in server.log()
    finally:
        server.stop()
