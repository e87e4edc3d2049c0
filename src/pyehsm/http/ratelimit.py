"""Per-app rate limiting: one token bucket per authenticated appid.

Each app may send ``rate`` requests per second on average and ``burst`` at once. The bucket is
checked after the signature (so only real apps get buckets, and a flood of forged requests cannot
drain another app's budget) and after the replay guard has recorded the request (a refused request
changes nothing but is spent: the Action is not signed, so it must not be sendable again as another).
Buckets live in the worker process: with ``--workers N`` every worker enforces the limit on the
requests it serves (docs/operations.md).

    >>> from pyehsm.clock import ManualClock
    >>> clock = ManualClock()
    >>> limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    >>> [limiter.allow("app") for _ in range(3)]
    [True, True, False]
    >>> clock.advance(ms=1000); limiter.allow("app")
    True
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pyehsm.clock import Clock
from pyehsm.errors import RateLimited

MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_ms: int


class RateLimiter:
    """Token buckets per appid; ``allow`` takes one token or answers False."""

    def __init__(self, rate: float, burst: int, clock: Clock, max_buckets: int = MAX_BUCKETS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def __repr__(self) -> str:
        return f"<RateLimiter {self.rate}/s burst {self.burst}>"

    def allow(self, appid: str) -> bool:
        now = self._clock.now_ms()
        with self._lock:
            bucket = self._buckets.get(appid)
            if bucket is None:
                if len(self._buckets) >= self._max_buckets:
                    self._drop_full(now)
                bucket = self._buckets[appid] = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0, now - bucket.updated_ms)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate / 1000.0)
                bucket.updated_ms = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            self.refused += 1
            return False

    def check(self, appid: str) -> None:
        """Raise RateLimited when ``appid`` has no token left."""
        if not self.allow(appid):
            raise RateLimited(appid)

    def _drop_full(self, now: int) -> None:
        """Forget buckets that have refilled completely (they hold no information)."""
        refill_ms = self.burst * 1000.0 / self.rate
        for appid in [a for a, b in self._buckets.items() if now - b.updated_ms >= refill_ms]:
            del self._buckets[appid]
        if len(self._buckets) >= self._max_buckets:  # every app active: drop the oldest half
            for appid in sorted(self._buckets, key=lambda a: self._buckets[a].updated_ms)[: self._max_buckets // 2]:
                del self._buckets[appid]

    def __len__(self) -> int:
        return len(self._buckets)
