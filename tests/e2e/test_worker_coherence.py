"""Several worker processes on one SQLite store see each other's key state changes at once: each
worker caches key rows, and SQLite's data_version tells it when another worker committed."""

from __future__ import annotations

from pyehsm.client import Client
from tests.e2e.test_workers import post_fresh
from tests.support.server import ServerProcess

ROUNDS = 12  # fresh connections per check: with two workers, both are hit with overwhelming probability


def _encrypt_on_fresh_connections(server: ServerProcess, client: Client, keyid: str) -> set[tuple[int, str]]:
    import msgspec

    outcomes = set()
    for i in range(ROUNDS):
        body = msgspec.json.encode(client.envelope({"keyid": keyid, "plaintext": "aGk="}, nonce=f"c{i}-{keyid[:8]}"))
        outcomes.add(post_fresh(server, "Encrypt", body))
    return outcomes


def test_disable_enable_delete_reach_every_worker(two_workers: ServerProcess) -> None:
    with two_workers.client() as client:
        keyid = client.create_key("EH_AES_GCM_256")
        # warm both workers' caches with the enabled state
        assert {code for code, _ in _encrypt_on_fresh_connections(two_workers, client, keyid)} == {200}
        client.disable_key(keyid)
        assert _encrypt_on_fresh_connections(two_workers, client, keyid) == {(400, "keyid is disabled")}
        client.enable_key(keyid)
        assert {code for code, _ in _encrypt_on_fresh_connections(two_workers, client, keyid)} == {200}
        client.delete_key(keyid)
        assert _encrypt_on_fresh_connections(two_workers, client, keyid) == {(400, "keyid error")}
