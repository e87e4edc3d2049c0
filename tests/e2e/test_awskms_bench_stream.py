"""The bench's AWS-door request stream (bench/streams.py): its line, split as bench/replay.lua splits it,
is a request the AWS KMS door accepts, again and again (the door keeps no replay state, as AWS)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from bench.streams import b64, write_sigv4_stream

from pyehsm.client import Client
from tests.support.server import InProcessServer


def _split(line: str) -> tuple[str, str, dict[str, str], str]:
    method, path, header_text, body = line.rstrip("\n").split("\t")
    assert header_text.startswith("|")
    headers = dict(pair.split(":", 1) for pair in header_text[1:].split("|"))
    return method, path, headers, body


def test_sigv4_stream_line_is_accepted(manual_server: InProcessServer, manual_client: Client, tmp_path: Path) -> None:
    keyid = manual_client.create_key("EH_AES_GCM_256")
    body = {"KeyId": keyid, "Plaintext": b64(b"x" * 32)}
    stream = write_sigv4_stream(
        tmp_path / "s.txt", manual_server.url, manual_client.appid, manual_client.apikey, "Encrypt", body, 2
    )
    lines = stream.read_text().splitlines(keepends=True)
    assert len(lines) == 2
    method, path, headers, text = _split(lines[0])
    for _ in range(2):
        answer = httpx.request(method, f"{manual_server.url}{path}", headers=headers, content=text.encode())
        assert answer.status_code == 200, answer.text


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_replays_the_sigv4_stream(manual_server: InProcessServer, manual_client: Client, tmp_path: Path) -> None:
    keyid = manual_client.create_key("EH_AES_GCM_256")
    body = {"KeyId": keyid, "Plaintext": b64(b"x" * 32)}
    stream = write_sigv4_stream(
        tmp_path / "s.txt", manual_server.url, manual_client.appid, manual_client.apikey, "Encrypt", body, 1
    )
    script = Path(__file__).parents[2] / "bench" / "replay.lua"
    done = subprocess.run(
        ["wrk", "-t1", "-c1", "-d1s", "-s", str(script), manual_server.url, "--", str(stream), "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"http_errors": 0' in done.stdout and '"requests": 0' not in done.stdout, done.stdout
