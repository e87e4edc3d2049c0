"""`pyehsm serve --workers 2`: the replay guard is shared by the worker processes."""

from __future__ import annotations

import base64
import http.client
import threading
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from pyehsm.client import Client
from pyehsm.clock import ManualClock
from tests.support.server import NO_POOL_ARGS, ServerProcess

# no background key-pair generation: these servers only need symmetric keys quickly

REPLAYED = "Timestamp can't be repeated in 20 minutes"
CONNECTIONS = 16


def post_fresh(
    server: ServerProcess, action: str, body: bytes, barrier: threading.Barrier | None = None
) -> tuple[int, str]:
    """POST on a new TCP connection (closed afterwards); returns (code, message) of the envelope."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.connect()
        if barrier is not None:
            barrier.wait()
        conn.request("POST", f"/ehsm?Action={action}", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        data = msgspec.json.decode(resp.read())
    finally:
        conn.close()
    return int(data["code"]), str(data["message"])


def send_on_fresh_connections(server: ServerProcess, action: str, body: bytes, count: int) -> list[tuple[int, str]]:
    """POST the same bytes ``count`` times at once, each on its own new TCP connection."""
    barrier = threading.Barrier(count)

    def one(_: int) -> tuple[int, str]:
        return post_fresh(server, action, body, barrier)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_a_replayed_request_is_accepted_exactly_once_across_workers(two_workers: ServerProcess) -> None:
    with two_workers.client() as c:
        keyid = c.create_key("EH_AES_GCM_256")
        for round_ in range(3):
            body = msgspec.json.encode(c.envelope({"keyid": keyid, "plaintext": "cm91bmQ=", "aad": f"{round_}AA="}))
            answers = Counter(send_on_fresh_connections(two_workers, "Encrypt", body, CONNECTIONS))
            assert answers[(200, "successful")] == 1, answers
            assert answers[(400, REPLAYED)] == CONNECTIONS - 1, answers
        # one DeleteKey signed once, sent many times: the key is deleted once and nothing else happens
        body = msgspec.json.encode(c.envelope({"keyid": keyid}))
        answers = Counter(send_on_fresh_connections(two_workers, "DeleteKey", body, CONNECTIONS))
        assert answers == {(200, "successful"): 1, (400, REPLAYED): CONNECTIONS - 1}
        assert c.list_keys() == []


def test_distinct_requests_in_one_millisecond_are_all_accepted(two_workers: ServerProcess) -> None:
    with two_workers.client() as c:
        frozen = Client(two_workers.base, c.appid, c.apikey, clock=ManualClock())
        bodies = [msgspec.json.encode(frozen.envelope(None, nonce=f"n{i}")) for i in range(CONNECTIONS)]
        frozen.close()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda body: post_fresh(two_workers, "ListKey", body), bodies))
        assert answers == [(200, "successful")] * CONNECTIONS


def test_workers_share_state(two_workers: ServerProcess) -> None:
    # keys created through one connection are usable through any other (either worker)
    with two_workers.client() as c:
        keyid = c.create_key("EH_SM4_CBC")
        ct = c.encrypt(keyid, b"shared")
    for i in range(8):
        body = msgspec.json.encode(
            c.envelope({"keyid": keyid, "ciphertext": base64.b64encode(ct).decode()}, nonce=str(i))
        )
        assert post_fresh(two_workers, "Decrypt", body) == (200, "successful")
    assert "Traceback" not in two_workers.log()


def test_replays_are_refused_across_restarts_even_when_the_replay_table_overflows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # one bucket of 8 entries: most of these requests go to the SQLite overflow table
    server = ServerProcess(data, "--workers", "2", "--replay-capacity", "8", *NO_POOL_ARGS).start()
    try:
        with server.client() as c:
            keyid = c.create_key("EH_AES_GCM_256")
            bodies = [
                msgspec.json.encode(c.envelope({"keyid": keyid, "plaintext": "cm91bmQ="}, nonce=f"n{i}"))
                for i in range(30)
            ]
        assert [post_fresh(server, "Encrypt", body) for body in bodies] == [(200, "successful")] * 30
        assert [post_fresh(server, "Encrypt", body)[1] for body in bodies] == [REPLAYED] * 30
    finally:
        server.stop()
    assert (data / "replay.table").stat().st_size == 4096 + 8 * 16
    server.start()
    try:
        assert [post_fresh(server, "Encrypt", body)[1] for body in bodies] == [REPLAYED] * 30
    finally:
        server.stop()
    code, output = ServerProcess(data, "--replay-capacity", "4", *NO_POOL_ARGS).run_to_exit()
    assert code != 0 and "--replay-capacity must be between 8 and" in output


def test_a_lost_replay_table_refuses_requests_signed_before_it_was_recreated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, *NO_POOL_ARGS).start()
    try:
        with server.client() as c:
            captured = msgspec.json.encode(c.envelope(None, nonce="captured"))  # signed, never sent
            assert c.list_keys() == []
    finally:
        server.stop()
    (data / "replay.table").unlink()  # e.g. a data dir restored from a backup, or a damaged file
    server.start()
    try:
        assert post_fresh(server, "ListKey", captured) == (400, REPLAYED)  # it may have been seen: refused
        # so is every request signed before the recreation + the 10-minute window (a request accepted
        # before the loss may be dated up to 10 minutes ahead): the refusal window, said in the log and
        # /metrics; tests/integration/test_replay_durability.py moves a clock through it
        fresh = msgspec.json.encode(c.envelope(None, nonce="fresh"))
        assert post_fresh(server, "ListKey", fresh) == (400, REPLAYED)
        assert "requests timestamped before" in server.log()
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as resp:
            metrics = resp.read().decode()
        assert 'pyehsm_replay_refused_total{reason="before_floor"} 2.0' in metrics
        assert "pyehsm_replay_refusing_until_seconds 0.0" not in metrics
    finally:
        server.stop()
