"""Time source. Every time-dependent rule takes a Clock so tests can move time without sleeping."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, *, ms: int = 0, seconds: float = 0, days: float = 0) -> None:
        with self._lock:
            self._now += ms + int(seconds * 1000) + int(days * 86_400_000)

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = now_ms


DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
