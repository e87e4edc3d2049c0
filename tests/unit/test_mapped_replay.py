"""The mapped replay table shared by a node's workers, and its SQLite overflow."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.clock import ManualClock
from pyehsm.store import mapped_replay
from pyehsm.store.mapped_replay import (
    _OVERFLOW_AT,
    BUCKET_BYTES,
    DATA_OFFSET,
    SLOTS_PER_BUCKET,
    MappedReplayGuard,
    _buckets,
    buckets_for,
)
from pyehsm.store.replay_lock import STRIPES
from pyehsm.store.sqlite_replay import SqliteReplayGuard

RETENTION = 20 * 60 * 1000
NOW = 1_800_000_000_000

# The C extension is optional: its own tests need it; the guard's behaviour is checked on both paths.
_replay_probe: Any = mapped_replay._PROBE
needs_c = pytest.mark.skipif(_replay_probe is None, reason="the C extension _replay_probe is not built")


@pytest.fixture(params=[pytest.param(True, id="c", marks=needs_c), pytest.param(False, id="python")])
def c_probe(request: pytest.FixtureRequest) -> bool:
    """Run the test with the C fast path, then with the Python path alone."""
    return bool(request.param)


def open_guard(
    tmp_path: Path,
    capacity: int = 1024,
    clock: ManualClock | None = None,
    floor_ms: int = 0,
    *,
    c_probe: bool = True,
) -> MappedReplayGuard:
    overflow = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)
    clock = clock or ManualClock(NOW)
    return MappedReplayGuard(
        tmp_path / "replay.table", RETENTION, capacity, clock, overflow, floor_ms=floor_ms, c_probe=c_probe
    )


def remember(guard: MappedReplayGuard, sign: str, now: int = NOW, appid: str = "app") -> bool:
    return asyncio.run(guard.remember(appid, sign, now))


def overflow_size(guard: MappedReplayGuard) -> int:
    return asyncio.run(guard.overflow.size(NOW))  # rows written at NOW or later: live


def test_bucket_count_is_a_power_of_two_covering_the_capacity() -> None:
    assert [buckets_for(c) for c in (8, 9, 16, 17, 1000, 1 << 23)] == [1, 2, 2, 4, 128, 1 << 20]


def test_an_entry_expires_after_the_retention_and_its_slot_is_reused(tmp_path: Path, c_probe: bool) -> None:
    guard = open_guard(tmp_path, capacity=8, c_probe=c_probe)  # one bucket of 8 slots
    for i in range(8):
        assert remember(guard, f"s{i}") is True
    assert remember(guard, "s0", now=NOW + RETENTION - 1) is False
    later = NOW + RETENTION
    assert remember(guard, "s0", now=later) is True  # expired: a new request that shares the tag
    for i in range(8, 15):
        assert remember(guard, f"s{i}", now=later) is True  # the other seven expired slots are reused
    assert overflow_size(guard) == 0


def test_replay_placement_fills_the_table_to_70_percent_without_overflow(tmp_path: Path, c_probe: bool) -> None:
    """An entry goes to the emptier of its two buckets: nothing overflows to SQLite below ~75 % full (the
    first-bucket-first rule overflowed from ~40 %, and every request of the next 20 minutes then asked
    SQLite too: the soak's p99 drift). The clock stands still: every entry stays live."""
    capacity = 8192
    guard = open_guard(tmp_path, capacity=capacity, c_probe=c_probe)
    for i in range(capacity * 70 // 100):
        assert guard.remember_now("app", f"sign-{i}", NOW) is True
    assert guard.overflowed == 0
    assert overflow_size(guard) == 0
    assert guard.remember_now("app", "sign-7", NOW) is False


def test_entries_survive_a_restart(tmp_path: Path, c_probe: bool) -> None:
    guard = open_guard(tmp_path, c_probe=c_probe)
    assert remember(guard, "before-restart") is True
    asyncio.run(guard.close())
    assert remember(open_guard(tmp_path, c_probe=c_probe), "before-restart") is False


def test_a_full_table_overflows_to_sqlite_and_refuses_replays_of_either(tmp_path: Path, c_probe: bool) -> None:
    clock = ManualClock(NOW)
    guard = open_guard(tmp_path, capacity=8, clock=clock, c_probe=c_probe)
    for i in range(8):
        assert remember(guard, f"early-{i}", now=NOW - 1000) is True
    assert remember(guard, "overflowed") is True  # both candidate buckets full: SQLite takes it
    assert overflow_size(guard) == 1
    assert remember(guard, "overflowed") is False
    assert remember(guard, "early-3") is False
    # The early entries expire and free their slots while the overflowed entry is still live: its
    # replay must still be refused, so SQLite keeps deciding until the overflow horizon passes.
    between = NOW - 1000 + RETENTION
    assert remember(guard, "overflowed", now=between) is False
    assert remember(guard, "fresh", now=between) is True  # into a freed slot, after SQLite said "not seen"
    assert remember(guard, "fresh", now=between) is False
    after = NOW + RETENTION  # past the horizon: the overflowed entry has expired too
    assert remember(guard, "after-horizon", now=after) is True
    assert remember(guard, "overflowed", now=after) is True
    assert overflow_size(guard) == 1  # only the entry that found both buckets full went there
    clock.set(after)
    assert asyncio.run(guard.size(after)) == 3  # three live in the table; SQLite's row has expired
    assert asyncio.run(guard.purge(after)) == 1


def test_a_new_capacity_keeps_every_live_entry(tmp_path: Path, c_probe: bool) -> None:
    guard = open_guard(tmp_path, capacity=64, c_probe=c_probe)
    signs = [f"s{i}" for i in range(40)]
    assert all(remember(guard, s) for s in signs)
    asyncio.run(guard.close())
    bigger = open_guard(tmp_path, capacity=4096, c_probe=c_probe)
    assert bigger.capacity == 4096
    assert not any(remember(bigger, s) for s in signs)
    asyncio.run(bigger.close())
    smaller = open_guard(tmp_path, capacity=8, c_probe=c_probe)  # fewer slots than live entries: the rest go to SQLite
    assert not any(remember(smaller, s) for s in signs)
    assert overflow_size(smaller) >= len(signs) - 8
    assert remember(smaller, "new") is True


def test_an_unreadable_table_is_recreated_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "replay.table").write_bytes(b"not a replay table" * 300)
    with caplog.at_level(logging.WARNING):
        guard = open_guard(tmp_path)
    assert "recreated empty" in caplog.text
    assert remember(guard, "s") is True
    assert (tmp_path / "replay.table").stat().st_size == DATA_OFFSET + guard.capacity * 16


def test_a_table_created_with_a_floor_refuses_requests_signed_before_it(tmp_path: Path, c_probe: bool) -> None:
    guard = open_guard(tmp_path, floor_ms=NOW, c_probe=c_probe)

    def at(timestamp: int, sign: str) -> bool:
        return asyncio.run(guard.remember("app", sign, NOW + 5, timestamp))

    assert at(NOW - 1, "signed-before") is False  # maybe seen by the lost table: refused
    assert at(NOW, "signed-at") is True
    assert at(NOW, "signed-at") is False
    assert remember(guard, "no-timestamp-given") is True  # callers without a timestamp: the table alone
    asyncio.run(guard.close())
    # the floor belongs to the table: reopening (another worker, a restart, a resize) keeps it
    assert open_guard(tmp_path, floor_ms=0, c_probe=c_probe).floor_ms == NOW
    assert open_guard(tmp_path, capacity=4096, floor_ms=0, c_probe=c_probe).floor_ms == NOW
    (tmp_path / "replay.table").write_bytes(b"damaged")
    assert open_guard(tmp_path, floor_ms=NOW + 7, c_probe=c_probe).floor_ms == NOW + 7  # recreated: the new floor


def test_size_counts_live_entries(tmp_path: Path, c_probe: bool) -> None:
    clock = ManualClock(NOW)
    guard = open_guard(tmp_path, clock=clock, c_probe=c_probe)
    for i in range(30):
        remember(guard, f"s{i}", now=NOW + i)
    assert asyncio.run(guard.size(NOW)) == 30
    assert asyncio.run(guard.size(NOW + RETENTION + 9)) == 20  # entries written at NOW .. NOW+9 have expired


def test_capacity_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="capacity"):
        open_guard(tmp_path, capacity=4)


def test_concurrent_duplicates_from_several_workers_are_accepted_exactly_once(tmp_path: Path, c_probe: bool) -> None:
    # small: the overflow path races too
    guards = [open_guard(tmp_path, capacity=64, c_probe=c_probe) for _ in range(3)]
    signs = [f"sign-{i}" for i in range(300)]
    accepted: list[list[str]] = [[] for _ in guards]
    barrier = threading.Barrier(len(guards))

    def run(index: int) -> None:
        barrier.wait()
        for sign in signs:
            if guards[index].remember_now("app", sign, NOW):
                accepted[index].append(sign)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(guards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for worker in accepted for s in worker) == sorted(signs)  # each exactly once


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=3 * RETENTION)),
        max_size=80,
    )
)
@pytest.mark.parametrize("c_probe", [pytest.param(True, id="c", marks=needs_c), pytest.param(False, id="python")])
def test_behaves_like_a_dictionary_of_expiry_times(
    tmp_path_factory: pytest.TempPathFactory, c_probe: bool, ops: list[tuple[int, int]]
) -> None:
    """Against a model: accepted iff no live entry for the sign, whatever overflows along the way."""
    guard = open_guard(tmp_path_factory.mktemp("replay"), capacity=16, c_probe=c_probe)
    model: dict[str, int] = {}
    now = NOW
    try:
        for sign_number, advance in sorted(ops, key=lambda op: op[1]):
            now = max(now, NOW + advance)
            sign = f"s{sign_number}"
            expected = model.get(sign, 0) <= now
            assert guard.remember_now("app", sign, now) is expected
            if expected:
                model[sign] = now + RETENTION
    finally:
        asyncio.run(guard.close())


@needs_c
def test_workers_with_and_without_the_c_extension_share_one_table(tmp_path: Path) -> None:
    """The Python path takes the C extension's locks: mixed workers still accept each request once."""
    guards = [open_guard(tmp_path, capacity=64, c_probe=i % 2 == 0) for i in range(4)]
    assert [g.probe_impl for g in guards] == ["c", "python", "c", "python"]
    signs = [f"sign-{i}" for i in range(300)]
    accepted: list[list[str]] = [[] for _ in guards]
    barrier = threading.Barrier(len(guards))

    def run(index: int) -> None:
        barrier.wait()
        for sign in signs:
            if guards[index].remember_now("app", sign, NOW):
                accepted[index].append(sign)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(guards))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for worker in accepted for s in worker) == sorted(signs)


def test_the_python_path_waits_for_a_lock_held_on_any_stripe(tmp_path: Path) -> None:
    """Without the C extension a request takes the whole-table lock: a lock held on one stripe's byte
    (a process-associated lock, which conflicts with open-file-description locks) holds it up."""
    guard = open_guard(tmp_path, capacity=64, c_probe=False)
    other = os.open(guard.path, os.O_RDWR)
    fcntl.lockf(other, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, STRIPES - 1)
    done: list[bool] = []
    try:
        held = threading.Thread(target=lambda: done.append(guard.remember_now("app", "waits", NOW)))
        held.start()
        held.join(timeout=0.2)
        assert held.is_alive() and not done
    finally:
        fcntl.lockf(other, fcntl.LOCK_UN, 1, STRIPES - 1)
        os.close(other)
    held.join(timeout=10)
    assert done == [True]


# -- the C fast path (_replay_probe.c) ------------------------------------------------------------------
@needs_c
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=2**64 - 1) | st.sampled_from([1, 2, 2**32 + 1, 2**63 + 5]),
            st.integers(min_value=0, max_value=3 * RETENTION),
        ),
        max_size=120,
    )
)
def test_the_c_fast_path_leaves_the_table_exactly_as_the_python_path_does(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[int, int]]
) -> None:
    """Differential: every decision and every byte of the table (and its overflow horizon) equal, on a
    table small enough that buckets fill, entries expire and the overflow path runs."""
    fast = open_guard(tmp_path_factory.mktemp("fast"), capacity=16)
    slow = open_guard(tmp_path_factory.mktemp("slow"), capacity=16)
    now = NOW
    for tag, step in ops:
        now += step // 40  # time moves forward, sometimes far enough for entries to expire
        fast_says = fast._remember_tag(tag, now)
        slow_says = slow._remember_slow(tag, _buckets(tag, slow._mask), now, now + RETENTION)
        assert fast_says == slow_says
        assert fast._map[_OVERFLOW_AT : _OVERFLOW_AT + 8] == slow._map[_OVERFLOW_AT : _OVERFLOW_AT + 8]  # horizon
        assert fast._map[DATA_OFFSET:] == slow._map[DATA_OFFSET:]
    asyncio.run(fast.close())
    asyncio.run(slow.close())


@needs_c
def test_the_c_fast_path_assumes_the_table_layout_of_the_python_module() -> None:
    assert (
        _replay_probe.DATA_OFFSET,
        _replay_probe.BUCKET_BYTES,
        _replay_probe.OVERFLOW_AT,
        _replay_probe.STRIPES,
    ) == (DATA_OFFSET, BUCKET_BYTES, _OVERFLOW_AT, STRIPES)


@needs_c
def test_the_c_fast_path_refuses_offsets_outside_the_table_and_changes_nothing(tmp_path: Path) -> None:
    guard = open_guard(tmp_path, capacity=16)
    before = guard._map[:]
    end = len(guard._map)
    for first, second in (
        (end - 64, DATA_OFFSET),
        (DATA_OFFSET, end),
        (-1, DATA_OFFSET),
        (0, DATA_OFFSET),
        (DATA_OFFSET, 2**62),
    ):
        with pytest.raises(ValueError, match="bucket outside the table"):
            _replay_probe.remember(guard._map, guard._fd, 7, first, second, NOW, NOW + RETENTION)
    assert guard._map[:] == before


@needs_c
def test_the_c_fast_path_needs_a_writable_table_and_a_real_file(tmp_path: Path) -> None:
    guard = open_guard(tmp_path, capacity=16)
    with pytest.raises(BufferError):
        _replay_probe.remember(bytes(len(guard._map)), guard._fd, 7, DATA_OFFSET, DATA_OFFSET, NOW, NOW + 1)
    with pytest.raises(OSError):
        _replay_probe.remember(guard._map, 987654, 7, DATA_OFFSET, DATA_OFFSET, NOW, NOW + 1)  # not open
    with pytest.raises(ValueError, match="file descriptor"):
        _replay_probe.remember(guard._map, -1, 7, DATA_OFFSET, DATA_OFFSET, NOW, NOW + 1)
    with pytest.raises(OverflowError):
        _replay_probe.remember(guard._map, guard._fd, -7, DATA_OFFSET, DATA_OFFSET, NOW, NOW + 1)


@needs_c
def test_a_worker_waiting_for_the_lock_lets_the_holder_in_its_own_process_finish(tmp_path: Path) -> None:
    """The C probe waits for a held lock without the GIL: a thread of the same process holding the lock
    (here: through another open file of the table) can still run Python code and release it."""
    holder = open_guard(tmp_path, capacity=64)
    waiter = open_guard(tmp_path, capacity=64)
    _replay_probe.lock_table(holder._fd)
    released = threading.Event()

    def release_soon() -> None:
        released.wait(timeout=5)  # needs the GIL: it only returns while the waiter is blocked without it
        _replay_probe.unlock_table(holder._fd)

    thread = threading.Thread(target=release_soon)
    thread.start()
    threading.Timer(0.05, released.set).start()
    assert waiter.remember_now("app", "waits-for-the-lock", NOW) is True
    thread.join()
    assert remember(holder, "waits-for-the-lock") is False


@needs_c
def test_a_request_waits_only_for_the_stripes_of_its_own_buckets(tmp_path: Path) -> None:
    """Byte-range locks, one byte per stripe: a lock held on stripe 5 (here a process-associated lock,
    which conflicts with the guard's open-file-description locks) holds up a request on a bucket of
    stripe 5 until it is released, and no request on other stripes."""
    guard = open_guard(tmp_path, capacity=_replay_probe.STRIPES * SLOTS_PER_BUCKET * 4)  # 4 buckets per stripe
    other = os.open(guard.path, os.O_RDWR)
    fcntl.lockf(other, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 5)  # stripe 5's byte

    def bucket(index: int) -> int:
        return DATA_OFFSET + index * BUCKET_BYTES

    try:
        free = threading.Thread(
            target=_replay_probe.remember, args=(guard._map, guard._fd, 11, bucket(6), bucket(7), NOW, NOW + 1)
        )
        free.start()
        free.join(timeout=10)
        assert not free.is_alive()  # stripes 6 and 7: not held up
        done: list[int] = []
        held = threading.Thread(
            target=lambda: done.append(
                _replay_probe.remember(
                    guard._map, guard._fd, 12, bucket(6), bucket(5 + _replay_probe.STRIPES), NOW, NOW + 1
                )
            )
        )
        held.start()
        held.join(timeout=0.2)
        assert held.is_alive() and not done  # bucket 69 is on stripe 5: it waits
    finally:
        fcntl.lockf(other, fcntl.LOCK_UN, 1, 5)
        os.close(other)
    held.join(timeout=10)
    assert done == [_replay_probe.PLACED]


def test_creating_the_table_logs_the_disk_space_it_allocates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pyehsm.store.mapped_replay"):
        guard = open_guard(tmp_path, capacity=1 << 16)
    assert "65536 entries, 1 MiB allocated on disk (--replay-capacity, PYEHSM_REPLAY_CAPACITY)" in caplog.text
    asyncio.run(guard.close())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pyehsm.store.mapped_replay"):
        asyncio.run(open_guard(tmp_path, capacity=1 << 16).close())
    assert "allocated" not in caplog.text  # an existing table is used as it is


def test_a_floor_raised_after_a_worker_opened_the_table_holds_in_that_worker(tmp_path: Path) -> None:
    early = open_guard(tmp_path)
    asyncio.run(early.overflow.close())
    (tmp_path / "replay.db").unlink()  # lost ...
    with open(tmp_path / "replay.table", "r+b") as table:  # ... while the table still had live overflow
        table.seek(_OVERFLOW_AT)
        table.write((NOW + RETENTION).to_bytes(8, "little"))
    late = open_guard(tmp_path, floor_ms=NOW + 600_000)
    assert late.floor_ms == early.floor_ms == NOW + 600_000
    assert asyncio.run(early.remember("app", "signed-before-the-floor", NOW, NOW + 1)) is False


BOOT_A, BOOT_B = b"A" * 16, b"B" * 16
WINDOW_END = NOW + 600_000  # the floor app.py passes for a node with apps: now + the timestamp window


def open_booted(tmp_path: Path, boot: bytes, floor_ms: int = WINDOW_END) -> MappedReplayGuard:
    overflow = SqliteReplayGuard(tmp_path / "replay.db", RETENTION)
    return MappedReplayGuard(
        tmp_path / "replay.table", RETENTION, 1024, ManualClock(NOW), overflow, floor_ms=floor_ms, boot_id=boot
    )


def test_a_table_left_open_by_a_host_that_went_down_refuses_what_it_may_have_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = open_booted(tmp_path, BOOT_A, floor_ms=0)
    assert asyncio.run(first.remember("app", "ahead", NOW, NOW + 540_000)) is True
    # the host loses power: nobody closes the table, its last pages may never have reached the disk
    with caplog.at_level(logging.WARNING):
        after_reboot = open_booted(tmp_path, BOOT_B)
    assert "still open when the host went down" in caplog.text
    assert after_reboot.floor_ms == WINDOW_END
    assert asyncio.run(after_reboot.remember("app", "ahead", NOW, NOW + 540_000)) is False


def test_a_worker_killed_without_a_reboot_opens_no_window(tmp_path: Path) -> None:
    killed = open_booted(tmp_path, BOOT_A, floor_ms=0)  # never closed: kill -9
    assert remember(killed, "seen") is True
    restarted = open_booted(tmp_path, BOOT_A)  # same boot: the page cache kept every write
    assert restarted.floor_ms == 0
    assert remember(restarted, "seen") is False
    asyncio.run(restarted.close())
    # the killed worker never said it closed: a later reboot cannot tell it from a power loss
    assert open_booted(tmp_path, BOOT_B).floor_ms == WINDOW_END


def test_a_host_reboot_after_every_guard_closed_opens_no_window(tmp_path: Path) -> None:
    for _ in range(3):
        asyncio.run(open_booted(tmp_path, BOOT_A, floor_ms=0).close())
    after_reboot = open_booted(tmp_path, BOOT_B)
    assert after_reboot.floor_ms == 0
    assert remember(after_reboot, "s") is True
