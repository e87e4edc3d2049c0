"""The replay table at its limit (SQLite mode): a table far too small for the load never accepts a replay and
keeps serving fresh requests; what it could not hold goes to its SQLite overflow, which /metrics counts
(pyehsm_replay_overflow_total) and the log says (docs/operations.md, "Replay table at its limit")."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from pyehsm.protocols.ehsm.endpoint import REPLAYED
from pyehsm.protocols.ehsm.signing import sign_request
from tests.support.server import NO_POOL_ARGS, ServerProcess

CAPACITY = 8  # the smallest table: one bucket of 8 slots, full after 8 requests
REQUESTS = 60


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker: its /metrics answer holds every count at once (another worker copies its own every 10 s)."""
    data = tmp_path_factory.mktemp("replay-full") / "data"
    proc = ServerProcess(data, "--replay-capacity", str(CAPACITY), *NO_POOL_ARGS).start()
    try:
        yield proc
    finally:
        proc.stop()


def signed_encrypt(appid: str, apikey: str, keyid: str, nonce: str) -> bytes:
    timestamp = str(int(time.time() * 1000))
    payload = {"keyid": keyid, "plaintext": base64.b64encode(nonce.encode()).decode()}
    sign = sign_request(apikey, appid, timestamp, payload, nonce)
    body = {"appid": appid, "timestamp": timestamp, "nonce": nonce, "payload": payload, "sign": sign}
    return msgspec.json.encode(body)


def post(server: ServerProcess, body: bytes) -> dict[str, object]:
    response = httpx.post(
        f"{server.base}?Action=Encrypt", content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    answer: dict[str, object] = response.json()
    return answer


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found is not None, f"{name} missing from /metrics"
    return float(found.group(1))


def test_a_full_table_refuses_every_replay_and_keeps_serving(tiny_table: ServerProcess) -> None:
    with tiny_table.client() as c:
        keyid = c.create_key("EH_AES_GCM_256")
        bodies = [signed_encrypt(c.appid, c.apikey, keyid, f"full-{i}") for i in range(REQUESTS)]
    for body in bodies:  # many more unique requests than the table holds: every one served
        assert post(tiny_table, body)["code"] == 200
    for body in bodies:  # and every replay refused, whether its entry is in the table or went to SQLite
        answer = post(tiny_table, body)
        assert answer["code"] != 200 and answer["message"] == REPLAYED
    fresh = [signed_encrypt(c.appid, c.apikey, keyid, f"fresh-{i}") for i in range(10)]
    assert [post(tiny_table, body)["code"] for body in fresh] == [200] * 10
    text = httpx.get(f"{tiny_table.url}/metrics", timeout=30).text
    assert metric(text, "pyehsm_replay_capacity_entries") == CAPACITY
    # the key's creation, the requests and the fresh ones: all but the table's 8 slots overflowed
    assert metric(text, "pyehsm_replay_overflow_total") >= 1 + REQUESTS + 10 - CAPACITY
    assert metric(text, 'pyehsm_replay_refused_total{reason="seen"}') >= REQUESTS
    assert re.search(r"replay table .* is full \(8 entries\)", tiny_table.log())
