"""PostgreSQL's grouped reads (store/postgres/batched.py) and the listener's proof (store/cache.py), on a real
database: concurrent misses of one process go in one SELECT, each caller gets its own row (never another
app's), a failed statement fails every caller of its batch, a read racing an eviction is not cached, and
cached rows outlive their TTL only while the change listener proves it hears every change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pyehsm.clock import ManualClock
from pyehsm.store.cache import RowCache
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.records import AppRecord, KeyState, KeyVersionRecord
from tests.integration.stores import key_record
from tests.integration.stores import until as wait_until
from tests.support.postgres import fresh_database


class CountedStore(PostgresStore):
    """A real PostgresStore that counts its grouped statements and can hold one statement's answer."""

    def __init__(self, url: str) -> None:
        super().__init__(url, max_size=4)
        self.statements = 0
        self.hold: asyncio.Event | None = None  # set: the next statement waits for it after running
        self.have_read = asyncio.Event()

    async def query_grouped(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self.statements += 1
        rows = await super().query_grouped(query, params)
        hold, self.hold = self.hold, None
        if hold is not None:
            self.have_read.set()
            await hold.wait()
        return rows


@pytest.fixture
async def stores() -> AsyncIterator[tuple[CountedStore, PostgresStore]]:
    """The store under test and a second node on the same fresh database, with two apps and their keys."""
    with fresh_database() as url:
        counted, other = CountedStore(url), PostgresStore(url, max_size=2)
        await asyncio.gather(counted.open(), other.open())
        try:
            for appid in ("app-a", "app-b"):
                await other.insert_app(AppRecord(appid, f"wrapped:{appid}".encode(), 1))
                for n in range(3):
                    keyid = f"{appid}-k{n}"
                    await other.insert_key(key_record(appid, keyid), KeyVersionRecord(keyid, 1, keyid.encode(), 1))
            yield counted, other
        finally:
            await counted.close()
            await other.close()


async def test_concurrent_key_misses_go_in_one_statement_each_with_its_own_row(
    stores: tuple[CountedStore, PostgresStore],
) -> None:
    store, _ = stores
    store.cache = RowCache(ManualClock(), ttl_ms=60_000)
    asks = [
        ("app-a", "app-a-k0"),
        ("app-b", "app-b-k1"),
        ("app-a", "app-a-k2"),
        ("app-a", "app-b-k0"),  # another app's key: nothing, whatever the keyid
        ("app-b", "app-a-k0"),
        ("app-a", "missing"),
        ("ghost", "app-a-k1"),
        ("app-a", "app-a-k0"),  # the same key twice in one batch
    ]
    got = await asyncio.gather(*(store.get_key_and_primary(appid, keyid) for appid, keyid in asks))
    assert store.statements == 1  # one SELECT for the whole batch
    for (appid, keyid), answer in zip(asks, got, strict=True):
        if keyid.startswith(appid):
            assert answer is not None
            record, material = answer
            assert (record.appid, record.keyid, material) == (appid, keyid, keyid.encode())
            assert store.cached_key(appid, keyid) == record  # kept in the row cache
        else:
            assert answer is None
            assert store.cached_key(appid, keyid) is None  # misses are never cached


async def test_concurrent_app_misses_go_in_one_statement(stores: tuple[CountedStore, PostgresStore]) -> None:
    store, _ = stores
    store.cache = RowCache(ManualClock(), ttl_ms=60_000)
    got = await asyncio.gather(*(store.get_app(appid) for appid in ("app-a", "ghost", "app-b", "app-a")))
    assert store.statements == 1
    assert [app.appid if app else None for app in got] == ["app-a", None, "app-b", "app-a"]
    wrapped = [app.wrapped_apikey if app else None for app in got]
    assert wrapped == [b"wrapped:app-a", None, b"wrapped:app-b", b"wrapped:app-a"]
    statements = store.statements
    assert await store.get_app("app-b") == got[2]  # a hit: no statement
    assert store.statements == statements


async def test_reads_without_a_row_cache_are_grouped_too(stores: tuple[CountedStore, PostgresStore]) -> None:
    store, _ = stores
    assert store.cache is None
    got = await asyncio.gather(store.get_key_and_primary("app-a", "app-a-k1"), store.get_app("app-b"))
    assert got[0] is not None and got[0][0].keyid == "app-a-k1"
    assert got[1] is not None and got[1].appid == "app-b"


async def test_a_failed_batch_fails_every_caller_and_the_next_batch_runs(
    stores: tuple[CountedStore, PostgresStore],
) -> None:
    store, _ = stores
    store.cache = RowCache(ManualClock(), ttl_ms=60_000)
    # a NUL cannot be sent as text: the statement of this batch fails, for every key in it
    asks = [("app-a", "app-a-k0"), ("app-a", "bad\x00id"), ("app-b", "app-b-k0")]
    got = await asyncio.gather(*(store.get_key_and_primary(a, k) for a, k in asks), return_exceptions=True)
    assert store.statements == 1
    assert all(isinstance(answer, Exception) for answer in got)
    assert store.cached_key("app-a", "app-a-k0") is None  # nothing cached from a failed batch
    answer = await store.get_key_and_primary("app-a", "app-a-k0")  # the next batch is not poisoned
    assert answer is not None and answer[0].keyid == "app-a-k0"


async def test_an_eviction_racing_a_batched_read_is_not_lost(stores: tuple[CountedStore, PostgresStore]) -> None:
    store, other = stores
    rows = store.cache = RowCache(ManualClock(), ttl_ms=60_000)
    release = store.hold = asyncio.Event()
    read = asyncio.gather(
        store.get_key_and_primary("app-a", "app-a-k0"), store.get_key_and_primary("app-b", "app-b-k0")
    )
    await asyncio.wait_for(store.have_read.wait(), 10)
    # the batch has read the old rows; the change (and its notification) land before it returns
    assert await other.set_key_state("app-a", "app-a-k0", KeyState.DISABLED)
    rows.changed("k", "app-a-k0")
    release.set()
    stale, _ = await read
    assert stale is not None and stale[0].state is KeyState.ENABLED  # the read itself was old...
    assert store.cached_key("app-a", "app-a-k0") is None  # ...but nothing of the batch was kept
    assert store.cached_key("app-b", "app-b-k0") is None
    fresh = await store.get_key_and_primary("app-a", "app-a-k0")
    assert fresh is not None and fresh[0].state is KeyState.DISABLED


async def until(condition: Callable[[], bool], bound_s: float = 10.0) -> None:
    await wait_until(condition, bound_s, "not within the bound")


async def test_rows_outlive_the_ttl_only_while_the_listener_proves_itself(
    stores: tuple[CountedStore, PostgresStore],
) -> None:
    store, other = stores
    clock = ManualClock()
    rows = store.cache = RowCache(clock, ttl_ms=500)
    ready = asyncio.Event()
    watcher = asyncio.create_task(store.watch_changes(rows.changed, rows.reset, ready, rows.probe))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert await store.get_app("app-a") is not None
        assert await store.get_key_and_primary("app-a", "app-a-k0") is not None
        # a change without a notification (behind every cache's back): what is cached stays visible
        await other.query_one("UPDATE apps SET require_signed_action = 1 WHERE appid = 'app-a' RETURNING 1", ())
        clock.advance(ms=10_000)  # far past the TTL, but the listener goes on proving it hears every change
        now = clock.now_ms()
        await until(lambda: rows.synced_ms is not None and rows.synced_ms >= now)  # a probe sent since answered
        cached = await store.get_app("app-a")
        assert cached is not None and not cached.require_signed_action  # still the cached row
        assert store.cached_key("app-a", "app-a-k0") is not None

        # a notified change evicts at once, TTL or not
        assert await other.set_app_require_signed_action("app-a", False)
        await until(lambda: rows.app("app-a") is None)
        app = await store.get_app("app-a")
        assert app is not None and not app.require_signed_action
    finally:
        watcher.cancel()
    # no listener any more: its last proof ages and the TTL bounds staleness again
    await other.query_one("UPDATE apps SET require_signed_action = 1 WHERE appid = 'app-a' RETURNING 1", ())
    clock.advance(ms=500)
    app = await store.get_app("app-a")
    assert app is not None and app.require_signed_action
    assert store.cached_key("app-a", "app-a-k0") is None


async def test_a_probe_sent_before_a_reset_proves_nothing() -> None:
    clock = ManualClock()
    rows = RowCache(clock, ttl_ms=500)
    answered = rows.probe()
    rows.reset()  # the listener reconnected: notifications may have been lost before
    answered()
    assert rows.synced_ms is None
    rows.probe()()
    assert rows.synced_ms == clock.now_ms()


async def test_grouped_statements_plan_once_and_the_others_keep_custom_plans(
    stores: tuple[CountedStore, PostgresStore],
) -> None:
    """The grouped lookups' sessions keep a prepared statement's generic plan (PostgreSQL would re-plan one
    with an array parameter at every execution); the main pool keeps the server's default."""
    store, _ = stores
    for _ in range(3):  # every connection of the grouped pool, whichever the pool hands out
        assert await store.query_grouped("SELECT current_setting('plan_cache_mode')", ()) == [("force_generic_plan",)]
    assert await store.query_all("SELECT current_setting('plan_cache_mode')", ()) == [("auto",)]
    sql = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%%unnest%%'"
    for _ in range(8):  # past psycopg's prepare threshold (5): the lookup is a prepared statement
        await store.get_key_and_primary("app-a", "app-a-k0")
    plans = await store.query_grouped(sql, ())
    assert plans and all(custom == 0 and generic > 0 for generic, custom in plans)
