"""Several pyehsm nodes on one PostgreSQL: coherent caches, a shared replay guard, one root key.

Two real `pyehsm serve --store postgresql://...` processes share a fresh database and one root key
file; everything is exercised over HTTP. The in-process tests below them pin the mechanisms one by
one (NOTIFY in the committing transaction, cache eviction, TTL safety net, concurrent purges).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pyehsm.client import Client, EhsmApiError
from pyehsm.clock import ManualClock
from pyehsm.protocols.ehsm.endpoint import REPLAYED
from pyehsm.store.cache import RowCache
from pyehsm.store.postgres import PostgresReplayGuard, PostgresStore
from pyehsm.store.postgres.notify import LISTENER_APPLICATION
from pyehsm.store.records import AppRecord, ImportParamsRecord, KeyRecord, KeyState, KeyVersionRecord
from tests.integration.stores import key_record
from tests.integration.stores import until as wait_until
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL, ServerProcess, wait_healthy

PROPAGATION_BOUND_S = 1.0  # DisableKey/DeleteKey on one node is refused by the others within this


def write_root_key(path: Path) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    return path


def pg_node(tmp: Path, name: str, url: str, root_key: Path) -> ServerProcess:
    return ServerProcess(
        tmp / name, "--store", url, "--root-key", f"file:{root_key}", env={"PYEHSM_POOL_DEPTH": NO_POOL}
    )


@dataclass
class Cluster:
    url: str
    root_key: Path
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multinode")
    root_key = write_root_key(tmp / "root.key")
    with fresh_database() as url:
        a = pg_node(tmp, "node-a", url, root_key)
        b = pg_node(tmp, "node-b", url, root_key)
        a.start(wait=False)
        b.start(wait=False)  # both start at once on the empty database: one migrates, both share one DK
        try:
            wait_healthy(a.url, proc=a.proc)
            wait_healthy(b.url, proc=b.proc)
            yield Cluster(url, root_key, a, b)
        finally:
            a.stop()
            b.stop()


def on_node(client: Client, node: ServerProcess) -> Client:
    """The same app's credentials, talking to another node."""
    return Client(node.base, client.appid, client.apikey)


def refused_within(bound_s: float, attempt: Callable[[], object], message: str) -> None:
    """Poll ``attempt`` until it fails with ``message``; fail the test if that takes longer than bound_s."""
    deadline = time.monotonic() + bound_s
    while True:
        try:
            attempt()
        except EhsmApiError as exc:
            assert exc.message == message
            return
        assert time.monotonic() < deadline, f"still served {bound_s} s after the change on the other node"
        time.sleep(0.02)


def test_both_nodes_serve_one_database(cluster: Cluster) -> None:
    with cluster.a.client() as on_a, on_node(on_a, cluster.b) as on_b:  # enrolled on A, used on B
        keyid = on_a.create_key("EH_AES_GCM_256")
        ciphertext = on_b.encrypt(keyid, b"made on B", aad=b"ctx")  # usable on B at once
        assert on_a.decrypt(keyid, ciphertext, aad=b"ctx") == b"made on B"
        assert [k["keyid"] for k in on_b.list_keys()] == [keyid]
        sm4 = on_b.create_key("EH_SM4_CBC")
        assert on_b.decrypt(sm4, on_a.encrypt(sm4, b"sm4")) == b"sm4"


def test_disable_enable_and_delete_reach_the_other_node_within_a_second(cluster: Cluster) -> None:
    with cluster.a.client() as on_a, on_node(on_a, cluster.b) as on_b:
        keyid = on_a.create_key("EH_AES_GCM_128")
        ciphertext = on_b.encrypt(keyid, b"warm B's caches")  # B caches the key row and the cipher
        assert on_b.decrypt(keyid, ciphertext) == b"warm B's caches"

        on_a.disable_key(keyid)
        refused_within(PROPAGATION_BOUND_S, lambda: on_b.encrypt(keyid, b"x"), "keyid is disabled")
        on_a.enable_key(keyid)
        deadline = time.monotonic() + PROPAGATION_BOUND_S
        while True:  # and back: enabled again on B within the same bound
            try:
                assert on_b.decrypt(keyid, ciphertext) == b"warm B's caches"
                break
            except EhsmApiError as exc:
                assert exc.message == "keyid is disabled"
                assert time.monotonic() < deadline
                time.sleep(0.02)

        on_a.delete_key(keyid)
        refused_within(PROPAGATION_BOUND_S, lambda: on_b.decrypt(keyid, ciphertext), "keyid error")


def test_delete_all_keys_reaches_the_other_node(cluster: Cluster) -> None:
    with cluster.a.client() as on_a, on_node(on_a, cluster.b) as on_b:
        keyids = [on_a.create_key("EH_AES_GCM_256") for _ in range(3)]
        blobs = [on_b.encrypt(k, b"warm") for k in keyids]
        on_a.delete_all_keys()
        for keyid, blob in zip(keyids, blobs, strict=True):
            refused_within(PROPAGATION_BOUND_S, lambda k=keyid, b=blob: on_b.decrypt(k, b), "keyid error")


def test_a_request_replayed_to_the_other_node_is_rejected(cluster: Cluster) -> None:
    with cluster.a.client() as on_a, on_node(on_a, cluster.b) as on_b:
        keyid = on_a.create_key("EH_AES_GCM_256")
        signed = on_a.envelope({"keyid": keyid, "plaintext": "cmVwbGF5"})
        assert on_a.post_raw("Encrypt", signed).code == 200
        replayed_on_b = on_b.post_raw("Encrypt", signed)
        assert (replayed_on_b.message, replayed_on_b.result) == (REPLAYED, {})
        signed_for_b = on_b.envelope({"keyid": keyid, "plaintext": "cmVwbGF5"})
        assert on_b.post_raw("Encrypt", signed_for_b).code == 200
        replayed_on_a = on_a.post_raw("Encrypt", signed_for_b)
        assert (replayed_on_a.message, replayed_on_a.result) == (REPLAYED, {})


def test_a_node_with_another_root_key_refuses_to_start(cluster: Cluster, tmp_path: Path) -> None:
    stranger = pg_node(tmp_path, "node-c", cluster.url, write_root_key(tmp_path / "other.key"))
    code, output = stranger.run_to_exit()
    assert code == 1
    # RootKeyMismatch, raised by the wrapped domain key's AEAD tag, printed without a traceback
    assert re.search(r"^pyehsm: .*root key.*domain key", output, re.MULTILINE), output
    assert "Traceback" not in output
    with cluster.a.client() as on_a:  # the cluster is unharmed
        keyid = on_a.create_key("EH_AES_GCM_256")
        assert on_a.decrypt(keyid, on_a.encrypt(keyid, b"ok")) == b"ok"


# -- the mechanisms, in process ---------------------------------------------------------------------
@pytest.fixture
async def two_stores() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores with their own pools on one fresh database: two nodes, minus HTTP."""
    with fresh_database() as url:
        first, second = PostgresStore(url, max_size=3), PostgresStore(url, max_size=3)
        await asyncio.gather(first.open(), second.open())
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def until(condition: Callable[[], bool], bound_s: float = PROPAGATION_BOUND_S) -> None:
    await wait_until(condition, bound_s, "no notification within the bound")


async def test_key_changes_notify_after_commit_and_evict_other_caches(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    node_a, node_b = two_stores
    clock = ManualClock()
    rows_b = node_b.cache = RowCache(clock, ttl_ms=60_000)  # a TTL that cannot help within this test
    cache_b = node_b
    forgotten: list[str] = []
    rows_b.on_evict.append(forgotten.append)
    ready = asyncio.Event()
    watcher = asyncio.create_task(node_b.watch_changes(rows_b.changed, rows_b.reset, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await node_a.insert_app(AppRecord("app", b"w", 1))
        for keyid in ("k1", "k2", "k3"):
            await node_a.insert_key(key_record("app", keyid), KeyVersionRecord(keyid, 1, b"m", 1))
            assert await cache_b.get_key("app", keyid) is not None  # cached on B

        assert await node_a.set_key_state("app", "k1", KeyState.DISABLED)
        await until(lambda: "k1" in forgotten)
        got = await cache_b.get_key("app", "k1")
        assert got is not None and got.state is KeyState.DISABLED

        assert await node_a.delete_key("app", "k2")
        await until(lambda: "k2" in forgotten)
        assert await cache_b.get_key("app", "k2") is None

        assert sorted(await node_a.delete_all_keys("app")) == ["k1", "k3"]
        await until(lambda: "k3" in forgotten)
        assert await cache_b.get_key("app", "k3") is None

        pending = replace(key_record("app", "byok"), state=KeyState.PENDING_IMPORT, origin="EH_EXTERNAL_KEY")
        await node_a.insert_key(pending, KeyVersionRecord("byok", 1, None, 1))
        assert await cache_b.get_key("app", "byok") == pending
        await node_a.put_import_params(
            ImportParamsRecord("app", "byok", "token", "EH_RSA_2048", b"spki", b"wrapped", 1, 10**15)
        )
        assert await node_a.install_key_material("app", "byok", "token", b"material")  # pending -> enabled
        await until(lambda: "byok" in forgotten)
        got = await cache_b.get_key("app", "byok")
        assert got is not None and got.state is KeyState.ENABLED

        before = list(forgotten)
        assert not await node_a.set_key_state("app", "missing", KeyState.DISABLED)  # no change, no notification
        assert not await node_a.delete_key("other-app", "k1")
        await node_a.insert_key(key_record("app", "k9"), KeyVersionRecord("k9", 1, b"m", 1))
        assert await node_a.set_key_state("app", "k9", KeyState.DISABLED)  # a marker after the no-ops
        await until(lambda: "k9" in forgotten)
        assert forgotten[len(before) :] == ["k9"]
    finally:
        watcher.cancel()


async def test_local_mutations_evict_at_once_and_the_ttl_bounds_staleness(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    node_a, node_b = two_stores
    clock = ManualClock()
    rows_a = node_a.cache = RowCache(clock, ttl_ms=500)  # no listener: only local eviction and the TTL
    cache_a = node_a
    forgotten: list[str] = []
    rows_a.on_evict.append(forgotten.append)
    await cache_a.insert_app(AppRecord("app", b"w", 1))
    await cache_a.insert_key(key_record("app", "k"), KeyVersionRecord("k", 1, b"m", 1))
    assert await cache_a.get_key("app", "k") is not None
    assert await cache_a.set_key_state("app", "k", KeyState.DISABLED)  # through the cache: evicted at once
    assert forgotten == ["k"]
    got = await cache_a.get_key("app", "k")
    assert got is not None and got.state is KeyState.DISABLED

    assert await node_b.set_key_state("app", "k", KeyState.ENABLED)  # behind the cache's back, no listener
    got = await cache_a.get_key("app", "k")
    assert got is not None and got.state is KeyState.DISABLED  # stale, but only until the TTL
    clock.advance(ms=499)
    got = await cache_a.get_key("app", "k")
    assert got is not None and got.state is KeyState.DISABLED
    clock.advance(ms=1)
    got = await cache_a.get_key("app", "k")
    assert got is not None and got.state is KeyState.ENABLED

    assert await cache_a.get_key("app", "new") is None  # misses are not cached: a key made elsewhere appears
    await node_b.insert_key(key_record("app", "new"), KeyVersionRecord("new", 1, b"m", 1))
    assert await cache_a.get_key("app", "new") is not None
    assert await cache_a.get_key("stranger", "new") is None  # a cached row never answers another app

    rows_a.reset()  # a reconnecting listener forgets everything
    assert await node_b.delete_key("app", "new")
    assert await cache_a.get_key("app", "new") is None


class HeldReads(PostgresStore):
    """A real PostgresStore whose key read (under its row cache) holds its answer until released."""

    def __init__(self, url: str) -> None:
        super().__init__(url, max_size=2)
        self.have_read = asyncio.Event()
        self.release = asyncio.Event()

    async def _read_key(self, appid: str, keyid: str) -> KeyRecord | None:
        record = await super()._read_key(appid, keyid)
        self.have_read.set()
        await self.release.wait()
        return record


async def test_a_read_racing_an_invalidation_is_not_cached(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    node_a, node_b = two_stores
    await node_a.insert_app(AppRecord("app", b"w", 1))
    await node_a.insert_key(key_record("app", "k"), KeyVersionRecord("k", 1, b"m", 1))
    held = HeldReads(node_a.url)
    await held.open()
    try:
        rows = held.cache = RowCache(ManualClock(), ttl_ms=60_000)
        cache = held
        # This node has read the old row; the change and its notification land before the read returns.
        read = asyncio.create_task(cache.get_key("app", "k"))
        await asyncio.wait_for(held.have_read.wait(), 10)
        assert await node_b.set_key_state("app", "k", KeyState.DISABLED)
        rows.changed("k", "k")
        held.release.set()
        stale = await read
        assert stale is not None and stale.state is KeyState.ENABLED  # the read itself was old...
        got = await cache.get_key("app", "k")  # ...but it was not cached: the next read sees the change
        assert got is not None and got.state is KeyState.DISABLED
    finally:
        await held.close()


async def test_replay_guard_is_shared_and_purges_safely_from_every_node(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    guard_a = PostgresReplayGuard(two_stores[0], retention_ms=1000)
    guard_b = PostgresReplayGuard(two_stores[1], retention_ms=1000)
    assert await guard_a.remember("app", "sig", 0) is True
    assert await guard_b.remember("app", "sig", 10) is False  # seen by the other node
    assert await guard_a.remember("other-app", "sig", 10) is True  # per app
    # the same request arriving at both nodes at once: exactly one wins
    results = await asyncio.gather(*(g.remember("app", "race", 20) for g in (guard_a, guard_b) * 4))
    assert sorted(results) == [False] * 7 + [True]
    assert await guard_b.remember("app", "sig", 1000) is True  # retention over: the entry may be reused

    for i in range(300):
        await guard_a.remember("bulk", f"s{i}", 0)
    purged = await asyncio.gather(guard_a.purge(5000), guard_b.purge(5000), guard_a.purge(5000))
    assert sum(purged) == 300 + 3  # every expired row deleted exactly once: bulk + sig/other-app/race
    assert await guard_a.size(5000) == 0
    await guard_a.close()
    assert await guard_b.remember("app", "after-close", 0) is True  # the guard borrows; the pool stays open


async def test_a_lost_listener_connection_resets_the_cache_and_reconnects(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    node_a, node_b = two_stores
    events: list[str] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(
        node_b.watch_changes(
            lambda kind, ident: events.append(f"{kind}:{ident}"), lambda: events.append("reset"), ready
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await node_a.query_all(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
            (LISTENER_APPLICATION,),
        )
        # one reset when the connection is lost, one more once it listens again
        await until(lambda: events.count("reset") >= 2, bound_s=10)
        await node_a.insert_app(AppRecord("app", b"w", 1))
        await node_a.insert_key(key_record("app", "k"), KeyVersionRecord("k", 1, b"m", 1))
        await node_a.set_key_state("app", "k", KeyState.DISABLED)
        await until(lambda: "k:k" in events, bound_s=10)  # listening again
    finally:
        watcher.cancel()
