"""Replay protection survives a crash or a loss of its store (docs/operations.md, "Replay protection: the rule and
its cost"): a request accepted before the crash is refused after it.

PostgreSQL: a private cluster (scripts/pg-test-cluster.sh start-private) that the test crashes with an
immediate shutdown and starts again on the same data directory. The cluster runs with
``synchronous_commit = off`` and a 10-second WAL writer delay, the configuration under which a commit
that did not force its WAL flush is lost by the crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyehsm.app import REPLAY_FLOOR_WINDOW_MS
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.metrics import Metrics
from pyehsm.storage import open_replay_guard
from pyehsm.store.base import ReplayGuard
from pyehsm.store.mapped_replay import MappedReplayGuard
from pyehsm.store.postgres import PostgresReplayGuard, PostgresStore
from pyehsm.store.records import AppRecord
from pyehsm.store.sqlite import SqliteStore
from pyehsm.store.sqlite_replay import SqliteReplayGuard
from tests.support.postgres import PostgresServer, fresh_database

RETENTION_MS = 20 * 60 * 1000


@pytest.fixture
def crashable() -> Iterator[PostgresServer]:
    server = PostgresServer.start_private("synchronous_commit=off", "wal_writer_delay=10000")
    try:
        yield server
    finally:
        server.stop()


async def _remember(url: str, appid: str, sign: str, now_ms: int) -> bool:
    store = PostgresStore(url, max_size=1)
    await store.open()
    try:
        return await PostgresReplayGuard(store, RETENTION_MS).remember(appid, sign, now_ms, now_ms)
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_request_accepted_before_a_postgres_crash_is_refused_after_it(crashable: PostgresServer) -> None:
    url = crashable.url
    now = 1_700_000_000_000
    assert await _remember(url, "app", "sign-before-crash", now) is True
    crashable.crash()
    crashable.restart()
    # an UNLOGGED table is emptied by crash recovery; an asynchronous commit is lost with the WAL buffers
    assert await _remember(url, "app", "sign-before-crash", now + 1000) is False
    assert await _remember(url, "app", "a-new-request", now + 1000) is True


@pytest.mark.slow
async def test_the_replay_table_is_logged(crashable: PostgresServer) -> None:
    store = PostgresStore(crashable.url, max_size=1)
    await store.open()
    try:
        row = await store.query_one("SELECT relpersistence FROM pg_class WHERE oid = to_regclass('replay')", ())
    finally:
        await store.close()
    assert row == ("p",)


# -- SQLite mode: the mapped table (replay.table) and its overflow (replay.db) -----------------------------

MINUTE = 60_000
T0 = 1_800_000_000_000


async def _sqlite_node(tmp_path: Path, clock: ManualClock, *, with_app: bool = True) -> tuple[SqliteStore, ReplayGuard]:
    """The node's store and the replay guard app.py opens for it (the floor decided as at start-up); on
    the first start the app is enrolled after the guard opened, as on a new node."""
    settings = Settings(data_dir=tmp_path, replay_capacity=1024)
    store = SqliteStore(settings.sqlite_path)
    await store.open()
    guard = await open_replay_guard(settings, store, clock, REPLAY_FLOOR_WINDOW_MS)
    if with_app and await store.get_app("app") is None:
        await store.insert_app(AppRecord("app", b"wrapped", T0))
    return store, guard


async def _restart(tmp_path: Path, clock: ManualClock, store: SqliteStore, guard: ReplayGuard) -> ReplayGuard:
    await guard.close()
    await store.close()
    return (await _sqlite_node(tmp_path, clock))[1]


@pytest.mark.parametrize("lost", ["deleted", "damaged"])
@pytest.mark.parametrize("ahead_minutes", [5, 9])
async def test_future_dated_requests_accepted_before_the_table_was_lost_are_refused_after(
    tmp_path: Path, lost: str, ahead_minutes: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    store, guard = await _sqlite_node(tmp_path, clock)
    timestamp = T0 + ahead_minutes * MINUTE  # the window lets a client sign up to 10 minutes ahead
    assert await guard.remember("app", "future-dated", T0, timestamp) is True
    clock.set(T0 + MINUTE)
    table = tmp_path / "replay.table"
    if lost == "deleted":
        table.unlink()
    else:
        table.write_bytes(b"\x00" * 100)
    with caplog.at_level(logging.WARNING):
        guard = await _restart(tmp_path, clock, store, guard)
    assert "requests timestamped before" in caplog.text
    assert await guard.remember("app", "future-dated", T0 + MINUTE, timestamp) is False
    assert isinstance(guard, MappedReplayGuard) and guard.refused == {"seen": 0, "before_floor": 1}
    # the cost: until the window has passed, every request signed before it is refused too
    assert await guard.remember("app", "fresh", T0 + MINUTE, T0 + MINUTE) is False
    restarted_at = T0 + MINUTE
    clock.set(restarted_at + 10 * MINUTE)
    assert await guard.remember("app", "fresh-after-the-window", clock.now_ms(), clock.now_ms()) is True
    await guard.close()
    await store.close()


async def test_a_lost_overflow_database_with_live_entries_sets_the_floor(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    settings = Settings(data_dir=tmp_path, replay_capacity=8)  # one bucket pair fills fast: overflow
    store = SqliteStore(settings.sqlite_path)
    await store.open()
    guard = await open_replay_guard(settings, store, clock, REPLAY_FLOOR_WINDOW_MS)
    await store.insert_app(AppRecord("app", b"wrapped", T0))
    signs = [f"s{i}" for i in range(40)]
    for sign in signs:
        assert await guard.remember("app", sign, T0, T0 + 9 * MINUTE) is True
    assert isinstance(guard, MappedReplayGuard) and await guard.overflow.size(T0) > 0
    await guard.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"replay.db{suffix}").unlink(missing_ok=True)
    clock.set(T0 + MINUTE)
    guard = await open_replay_guard(settings, store, clock, REPLAY_FLOOR_WINDOW_MS)
    assert not any([await guard.remember("app", sign, T0 + MINUTE, T0 + 9 * MINUTE) for sign in signs])
    await guard.close()
    await store.close()


async def test_a_new_node_has_no_refusal_window(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store, guard = await _sqlite_node(tmp_path, clock, with_app=False)
    assert isinstance(guard, MappedReplayGuard) and guard.floor_ms == 0
    assert await guard.remember("app", "first", T0, T0) is True
    await guard.close()
    await store.close()


async def test_a_restart_keeps_the_table_and_opens_no_refusal_window(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store, guard = await _sqlite_node(tmp_path, clock)
    assert await guard.remember("app", "before", T0, T0 + 9 * MINUTE) is True
    clock.set(T0 + MINUTE)
    guard = await _restart(tmp_path, clock, store, guard)
    assert isinstance(guard, MappedReplayGuard) and guard.floor_ms == 0
    assert await guard.remember("app", "before", T0 + MINUTE, T0 + 9 * MINUTE) is False  # the table kept it
    assert await guard.remember("app", "after", T0 + MINUTE, T0 + MINUTE) is True
    assert guard.refused == {"seen": 1, "before_floor": 0}


# -- what /metrics shows ---------------------------------------------------------------------------------


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
        if s.name.startswith("pyehsm_replay_")
    }


class _NoCache:
    hits = 0
    misses = 0

    def __len__(self) -> int:
        return 0


class _NoPool:
    def depths(self) -> dict[str, int]:
        return {}


async def test_metrics_show_the_refusal_window_and_the_refusals_by_reason(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store, guard = await _sqlite_node(tmp_path, clock)
    (tmp_path / "replay.table").unlink()
    guard = await _restart(tmp_path, clock, store, guard)  # lost while the node has an app: a floor
    metrics = Metrics(clock, _NoCache(), _NoPool(), guard)
    before = _samples(await metrics.render())
    assert before[("pyehsm_replay_refusing_until_seconds", ())] == (T0 + 10 * MINUTE) / 1000
    assert before[("pyehsm_replay_refused_total", (("reason", "before_floor"),))] == 0
    assert await guard.remember("app", "a", T0, T0) is False  # before the floor
    clock.set(T0 + 10 * MINUTE)
    now = clock.now_ms()
    assert await guard.remember("app", "b", now, now) is True
    assert await guard.remember("app", "b", now, now) is False  # seen
    after = _samples(await metrics.render())
    assert after[("pyehsm_replay_refused_total", (("reason", "before_floor"),))] == 1
    assert after[("pyehsm_replay_refused_total", (("reason", "seen"),))] == 1
    assert after[("pyehsm_replay_guard_entries", ())] == 1


async def test_the_entries_gauge_counts_every_live_entry_of_a_large_table(tmp_path: Path) -> None:
    """A table of 131,072 buckets holding 384 entries (the sampled count reported 0 or a multiple of 128)."""
    overflow = SqliteReplayGuard(tmp_path / "replay.db", RETENTION_MS)
    guard = MappedReplayGuard(tmp_path / "replay.table", RETENTION_MS, 1 << 20, ManualClock(T0), overflow)
    for i in range(384):
        assert guard.remember_now("app", f"s{i}", T0 + i) is True
    assert await guard.size(T0) == 384
    assert await guard.size(T0 + RETENTION_MS + 99) == 284  # written at T0 .. T0+99: expired
    await guard.close()


async def test_the_postgres_entries_gauge_counts_live_entries_exactly() -> None:
    with fresh_database() as url:
        store = PostgresStore(url, max_size=1)
        await store.open()
        try:
            guard = PostgresReplayGuard(store, retention_ms=1000)
            for i in range(50):
                assert await guard.remember("app", f"old-{i}", 0) is True
            for i in range(30):
                assert await guard.remember("app", f"new-{i}", 10_000) is True
            assert await guard.size(10_500) == 30  # the 50 old rows expired (not purged yet): not counted
            assert await guard.size(500) == 80
        finally:
            await store.close()
