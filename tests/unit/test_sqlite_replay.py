"""The SQLite replay guard shared by a node's workers (the mapped table's overflow): each request
accepted exactly once. The mapped table's own tests: test_mapped_replay.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pyehsm.clock import ManualClock
from pyehsm.store.base import ReplayGuard
from pyehsm.store.mapped_replay import MappedReplayGuard
from pyehsm.store.sqlite_replay import SqliteReplayGuard

RETENTION = 20 * 60 * 1000
NOW = 1_800_000_000_000


def remember(guard: ReplayGuard, sign: str, now: int = NOW, appid: str = "app") -> bool:
    return asyncio.run(guard.remember(appid, sign, now))


def open_mapped(tmp_path: Path) -> ReplayGuard:
    overflow = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)
    return MappedReplayGuard(tmp_path / "replay.table", RETENTION, 1024, ManualClock(NOW), overflow)


def open_sqlite(tmp_path: Path) -> ReplayGuard:
    return SqliteReplayGuard(tmp_path / "replay.db", RETENTION)


@pytest.mark.parametrize("open_guard", [open_sqlite, open_mapped], ids=["sqlite", "mapped"])
def test_a_request_is_accepted_once_per_node(tmp_path: Path, open_guard: Callable[[Path], ReplayGuard]) -> None:
    """Both embedded guards: the SQLite one (the mapped table's overflow) and the mapped table."""
    a = open_guard(tmp_path)
    b = open_guard(tmp_path)  # another worker of the same node: same files
    assert remember(a, "s1") is True
    assert remember(a, "s1") is False
    assert remember(b, "s1") is False
    assert remember(b, "s2") is True
    assert remember(a, "s2") is False
    assert remember(a, "s1", appid="other-app") is True  # keyed on (appid, sign)


def test_expired_entries_are_purged_and_do_not_count(tmp_path: Path) -> None:
    a = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)
    assert remember(a, "s") is True
    later = NOW + RETENTION + 1
    assert remember(a, "s", now=later) is True  # a stale entry is reused, not counted as seen
    assert asyncio.run(a.purge(later + RETENTION)) == 1
    assert asyncio.run(a.size(later)) == 0


def test_one_event_loop_turn_is_one_batch_and_duplicates_inside_it_are_caught(tmp_path: Path) -> None:
    guard = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)

    async def burst() -> list[bool]:
        return list(await asyncio.gather(*(guard.remember("app", s, NOW) for s in ["x", "y", "x", "z", "y"])))

    assert asyncio.run(burst()) == [True, True, False, True, False]


def test_concurrent_duplicates_are_accepted_exactly_once(tmp_path: Path) -> None:
    guards = [SqliteReplayGuard(tmp_path / "replay.db", RETENTION) for _ in range(3)]
    signs = [f"sign-{i}" for i in range(300)]
    accepted: list[list[str]] = [[] for _ in guards]
    barrier = threading.Barrier(len(guards))

    def run(index: int) -> None:
        barrier.wait()

        async def all_of_them() -> None:
            results = await asyncio.gather(*(guards[index].remember("app", s, NOW) for s in signs[:150]))
            accepted[index].extend(s for s, ok in zip(signs[:150], results, strict=True) if ok)
            for sign in signs[150:]:
                if await guards[index].remember("app", sign, NOW):
                    accepted[index].append(sign)

        asyncio.run(all_of_them())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(guards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(s for worker in accepted for s in worker)
    assert everything == sorted(signs)  # each exactly once


def test_purge_works_in_batches_and_removes_only_expired_entries(tmp_path: Path) -> None:
    guard = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)
    guard.purge_batch = 7

    async def fill() -> None:
        await asyncio.gather(*(guard.remember("app", f"old-{i}", NOW) for i in range(50)))
        await asyncio.gather(*(guard.remember("app", f"new-{i}", NOW + 1000) for i in range(5)))

    asyncio.run(fill())
    assert asyncio.run(guard.purge(NOW + RETENTION)) == 50  # 8 batches of at most 7
    assert asyncio.run(guard.size(NOW + RETENTION)) == 5
    assert remember(guard, "new-0", NOW + 1000) is False  # the live ones are still there
