"""Fuzzing the replay rule on both stores: whatever sequence of requests, clock moves, restarts and losses
of the guard's files, no request is accepted twice, and a request the guard can vouch for (never accepted,
timestamped at or after its floor) is accepted (docs/operations.md, "Replay protection: the rule and its
cost")."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyehsm.app import REPLAY_FLOOR_WINDOW_MS
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.protocols.ehsm.envelope import TIMESTAMP_WINDOW_MS
from pyehsm.storage import open_replay_guard
from pyehsm.store.base import ReplayGuard
from pyehsm.store.postgres import PostgresReplayGuard, PostgresStore
from pyehsm.store.records import AppRecord
from pyehsm.store.sqlite import SqliteStore
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.slow

MINUTE = 60_000
T0 = 1_800_000_000_000
RETENTION_MS = 20 * MINUTE
REQUESTS = 12  # request i is timestamped T0 - 9 min + 3i min: some ahead of the clock, some behind

Op = (
    tuple[Literal["send"], int]
    | tuple[Literal["advance"], int]
    | tuple[Literal["restart", "lose_table", "lose_overflow"]]
)

SEND = st.tuples(st.just("send"), st.integers(0, REQUESTS - 1))
ADVANCE = st.tuples(st.just("advance"), st.integers(0, 6 * MINUTE))
EVENTS = st.sampled_from([("restart",), ("lose_table",), ("lose_overflow",)])


def timestamp(i: int) -> int:
    return T0 - 9 * MINUTE + 3 * MINUTE * i


class Model:
    """What the rule demands, checked after every request the envelope lets through."""

    def __init__(self) -> None:
        self.accepted: set[int] = set()

    def check(self, i: int, accepted: bool, floor_ms: int) -> None:
        if i in self.accepted:
            assert not accepted, f"request {i} executed twice"
        elif timestamp(i) >= floor_ms:
            assert accepted, f"request {i} refused though never seen"
        if accepted:
            self.accepted.add(i)


def in_window(i: int, now: int) -> bool:
    return abs(now - timestamp(i)) < TIMESTAMP_WINDOW_MS


class SqliteNode:
    def __init__(self, data: Path, clock: ManualClock) -> None:
        self.settings = Settings(data_dir=data, replay_capacity=64, replay_retention_ms=RETENTION_MS)
        self.clock = clock
        self.store = SqliteStore(self.settings.sqlite_path)
        self.guard: ReplayGuard | None = None

    async def start(self) -> ReplayGuard:
        self.guard = await open_replay_guard(self.settings, self.store, self.clock, REPLAY_FLOOR_WINDOW_MS)
        return self.guard

    async def stop(self) -> None:
        if self.guard is not None:
            await self.guard.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(SEND, SEND, ADVANCE, EVENTS), max_size=40))
def test_sqlite_never_accepts_a_request_twice_whatever_is_lost(ops: list[Op]) -> None:
    async def run(data: Path) -> None:
        clock = ManualClock(T0)
        node = SqliteNode(data, clock)
        await node.store.open()
        guard = await node.start()
        await node.store.insert_app(AppRecord("app", b"wrapped", T0))  # a new node: enrolled after start
        model = Model()
        for op in ops:
            if op[0] == "send":
                i = op[1]
                if in_window(i, clock.now_ms()):
                    accepted = await guard.remember("app", f"req-{i}", clock.now_ms(), timestamp(i))
                    model.check(i, accepted, guard.floor_ms)
            elif op[0] == "advance":
                clock.advance(ms=op[1])
            else:
                await node.stop()
                if op[0] == "lose_table":
                    (data / "replay.table").unlink()
                elif op[0] == "lose_overflow":
                    for suffix in ("", "-wal", "-shm"):
                        (data / f"replay.db{suffix}").unlink(missing_ok=True)
                guard = await node.start()
        await node.stop()
        await node.store.close()

    with tempfile.TemporaryDirectory() as data:
        asyncio.run(run(Path(data)))


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(st.one_of(SEND, SEND, ADVANCE, st.just(("restart",))), max_size=30))
def test_postgres_never_accepts_a_request_twice_across_restarts(pg_url: str, ops: list[Op]) -> None:
    appid = f"app-{uuid.uuid4().hex}"  # the examples share one database

    async def run() -> None:
        now = T0
        store = PostgresStore(pg_url, max_size=1)
        await store.open()
        guard = PostgresReplayGuard(store, RETENTION_MS)
        model = Model()
        try:
            for op in ops:
                if op[0] == "send":
                    i = op[1]
                    if in_window(i, now):
                        accepted = await guard.remember(appid, f"req-{i}", now, timestamp(i))
                        model.check(i, accepted, guard.floor_ms)
                elif op[0] == "advance":
                    now += op[1]
                else:
                    await store.close()
                    store = PostgresStore(pg_url, max_size=1)
                    await store.open()
                    guard = PostgresReplayGuard(store, RETENTION_MS)
        finally:
            await store.close()

    asyncio.run(run())
