"""What `pyehsm serve` says when it starts: the /ehsm URL to give clients, and on the first start a WARNING
that a new root key file was created and must be backed up (its path, never its bytes)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pyehsm.cli.server import ehsm_url
from tests.support.server import ServerProcess

NEW_ROOT_KEY = "created a NEW root key file at"


def test_first_start_warns_about_the_new_root_key_and_every_start_prints_the_url(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProcess(data).start()
    try:
        output = first.log()
    finally:
        first.stop()
    key_path = (data / "root.key").resolve()
    key = key_path.read_bytes()
    assert f"starting the eHSM-KMS API at http://127.0.0.1:{first.port}/ehsm" in output
    warning = next(line for line in output.splitlines() if NEW_ROOT_KEY in line)
    assert " WARNING " in warning
    assert f"{NEW_ROOT_KEY} {key_path}: back it up now" in warning
    for text in (key.hex(), key.hex().upper(), base64.b64encode(key).decode(), base64.b64encode(key[:12]).decode()):
        assert text not in output

    again = ServerProcess(data).start()  # the key file exists: no warning, the URL again
    try:
        output = again.log()
    finally:
        again.stop()
    assert f"starting the eHSM-KMS API at http://127.0.0.1:{again.port}/ehsm" in output
    assert NEW_ROOT_KEY not in output


def test_the_url_line_follows_the_log_format(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--log-format", "json").start()
    try:
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    messages = {line["message"]: line["level"] for line in lines}
    assert messages[f"starting the eHSM-KMS API at http://127.0.0.1:{server.port}/ehsm"] == "INFO"
    assert any(NEW_ROOT_KEY in message and level == "WARNING" for message, level in messages.items())


@pytest.mark.parametrize(
    ("host", "port", "tls", "url"),
    [
        ("127.0.0.1", 9000, False, "http://127.0.0.1:9000/ehsm"),
        ("kms.example", 443, True, "https://kms.example:443/ehsm"),
        ("::1", 9000, False, "http://[::1]:9000/ehsm"),
    ],
)
def test_ehsm_url(host: str, port: int, tls: bool, url: str) -> None:
    assert ehsm_url(host, port, tls) == url
