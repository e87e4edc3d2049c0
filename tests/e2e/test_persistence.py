"""Restart persistence on the embedded default (SQLite + root key file) and the root key file's mode."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from pyehsm.client import Client
from tests.support.server import NO_POOL_ARGS, ServerProcess

# no background key-pair generation: these servers only need symmetric keys quickly


def test_restart_keeps_apps_keys_and_ciphertexts_and_root_key_mode_is_enforced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, *NO_POOL_ARGS).start()
    try:
        root_key = data / "root.key"
        assert stat.S_IMODE(root_key.stat().st_mode) == 0o600
        assert len(root_key.read_bytes()) == 32
        with server.client() as c:
            appid, apikey = c.appid, c.apikey
            keys = {spec: c.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR", "EH_EC_P256")}
            sealed = {
                spec: c.encrypt(keys[spec], spec.encode(), b"aad")
                for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR")
            }
            data_key = c.generate_data_key(keys["EH_AES_GCM_256"], 32)
            c.disable_key(keys["EH_SM4_CTR"])
            listed = sorted(c.list_keys(), key=lambda k: k["keyid"])
    finally:
        server.stop()

    root_bytes = root_key.read_bytes()
    server.start()  # same data dir, same port
    try:
        assert root_key.read_bytes() == root_bytes  # reused, not re-created
        with Client(server.base, appid, apikey) as c:  # same appid/apikey still authenticate
            assert sorted(c.list_keys(), key=lambda k: k["keyid"]) == listed
            assert c.decrypt(keys["EH_AES_GCM_256"], sealed["EH_AES_GCM_256"], b"aad") == b"EH_AES_GCM_256"
            assert c.decrypt(keys["EH_SM4_CBC"], sealed["EH_SM4_CBC"], b"aad") == b"EH_SM4_CBC"
            plain, ct = data_key
            assert c.decrypt(keys["EH_AES_GCM_256"], ct) == plain
            assert (
                c.request(
                    "Decrypt",
                    {
                        "keyid": keys["EH_SM4_CTR"],
                        "ciphertext": base64.b64encode(sealed["EH_SM4_CTR"]).decode(),
                        "aad": base64.b64encode(b"aad").decode(),
                    },
                ).message
                == "keyid is disabled"
            )
            c.enable_key(keys["EH_SM4_CTR"])
            assert c.decrypt(keys["EH_SM4_CTR"], sealed["EH_SM4_CTR"], b"aad") == b"EH_SM4_CTR"
            new_key = c.create_key("EH_AES_GCM_128")
            assert c.decrypt(new_key, c.encrypt(new_key, b"after restart")) == b"after restart"
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    assert apikey not in server.log()

    root_key.chmod(0o640)  # group-readable (other modes: tests/unit/test_keyring.py)
    code, output = ServerProcess(data, *NO_POOL_ARGS).run_to_exit()
    assert code != 0
    assert "refusing to start" in output and f"chmod 600 {root_key}" in output
    assert "Traceback" not in output
    root_key.chmod(0o600)
