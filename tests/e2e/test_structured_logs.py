"""`--log-format json`: every server log line (pyehsm's and uvicorn's, in every worker) is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server import NO_POOL_ARGS, ServerProcess


def test_json_log_lines_from_every_worker(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--workers", "2", "--log-format", "json", *NO_POOL_ARGS).start()
    try:
        with server.client() as client:
            keyid = client.create_key("EH_AES_GCM_256")
            client.encrypt(keyid, b"log me not")
    finally:
        server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any non-JSON line
    assert len(records) >= 4  # at least: parent start-up plus each worker's start and stop
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert "log me not" not in server.log() and client.apikey not in server.log()
