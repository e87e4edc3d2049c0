"""The replay table at its limit: ``python -m bench.replay_limit [--capacity N] [--seconds S]``.

In process, on one mapped replay table of ``--capacity`` entries with the 20-minute retention and its SQLite
overflow (the guard a SQLite-mode server runs), with the clock held still so nothing expires:

1. room: unique requests are remembered as fast as one core takes them until the table is half full, then
   on until the first entry finds both of its buckets full (the fill at which overflow starts);
2. full: more unique requests, far past the capacity, so every new entry overflows to SQLite and every request
   is also looked up there; measured for ``--seconds`` once the first entry has overflowed;
3. replays: a random sample of the requests accepted in both phases is sent again; every one must be refused.

It prints both rates, their ratio, the overflow count, the replays refused, and what a table of the default
size sustains (capacity x REPLAY_USABLE_FRACTION / retention; docs/operations.md, "Replay table at its
limit"). Unique requests
arriving faster than entries expire therefore never make the table forget: it slows down, it never accepts a
replay. The exit status is 1 if a replay was accepted or a fresh request refused.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyehsm.clock import ManualClock
from pyehsm.config import DEFAULT_REPLAY_CAPACITY, REPLAY_USABLE_FRACTION
from pyehsm.store.mapped_replay import MappedReplayGuard
from pyehsm.store.sqlite_replay import SqliteReplayGuard

RETENTION_MS = 20 * 60 * 1000
APPID = "replay-limit"
SAMPLE = 2000


@dataclass
class Phase:
    accepted: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def _fill(
    guard: MappedReplayGuard, now: int, start: int, stop_when: Callable[[MappedReplayGuard, int], bool]
) -> tuple[Phase, int]:
    """Remember unique signs from ``start`` on until ``stop_when(guard, count)``; (phase, next index)."""
    i, began = start, time.perf_counter()
    while not stop_when(guard, i - start):
        for _ in range(1000):
            if not guard.remember_now(APPID, f"s{i}", now):
                raise SystemExit(f"a fresh request (s{i}) was refused as a replay")
            i += 1
    return Phase(i - start, time.perf_counter() - began), i


def run(capacity: int, seconds: float) -> int:
    with tempfile.TemporaryDirectory(prefix="pyehsm-replay-limit-") as tmp:
        clock = ManualClock()
        now = clock.now_ms()
        overflow = SqliteReplayGuard(Path(tmp) / "replay.db", RETENTION_MS)
        guard = MappedReplayGuard(Path(tmp) / "replay.table", RETENTION_MS, capacity, clock, overflow)
        real_capacity = guard.capacity
        room, nxt = _fill(guard, now, 0, lambda g, n: n >= real_capacity // 2)
        _, nxt = _fill(guard, now, nxt, lambda g, n: g.overflowed > 0)  # up to the first overflowing entry
        onset = (nxt - 1000) / real_capacity  # the first overflow is within the last batch of 1,000
        deadline = time.perf_counter() + seconds
        full, total = _fill(guard, now, nxt, lambda g, n: time.perf_counter() >= deadline)
        sample = random.Random(7).sample(range(total), min(SAMPLE, total))
        accepted_again = sum(guard.remember_now(APPID, f"s{i}", now) for i in sample)
        ratio = full.rate / room.rate if room.rate else 0.0
        print(f"table: {real_capacity:,} entries, retention {RETENTION_MS // 60000} min, clock held still")
        print(f"room:    {room.rate:>12,.0f} unique requests/s ({room.accepted:,} remembered)")
        print(
            f"full:    {full.rate:>12,.0f} unique requests/s ({full.accepted:,} more, {guard.overflowed:,} overflowed)"
        )
        print(f"ratio full/room: {ratio:.2f}")
        print(f"first overflow at {onset:.1%} full (sizing assumes {REPLAY_USABLE_FRACTION:.0%})")
        print(f"replays: {len(sample) - accepted_again:,} of {len(sample):,} sampled refused")
        sustained = DEFAULT_REPLAY_CAPACITY * REPLAY_USABLE_FRACTION / 1200
        print(
            f"the default table ({DEFAULT_REPLAY_CAPACITY:,} entries) holds {sustained:,.0f} signed requests/s "
            f"sustained over the 20-minute window; size it as peak rate x {math.ceil(1200 / REPLAY_USABLE_FRACTION):,}"
        )
        asyncio.run(guard.close())
        return 1 if accepted_again or onset < REPLAY_USABLE_FRACTION else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--capacity", type=int, default=262_144, help="table entries (default 262,144)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds measured with the table full")
    args = parser.parse_args(argv)
    return run(args.capacity, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
