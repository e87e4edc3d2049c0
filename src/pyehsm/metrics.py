"""Prometheus metrics, served at /metrics.

    pyehsm_requests_total{action, code}          requests answered, by Action and envelope code
    pyehsm_request_duration_seconds{action}      latency histogram (body read to response sent)
    pyehsm_key_cache_hits_total / _misses_total  parsed-key cache lookups
    pyehsm_key_cache_entries                     parsed keys held
    pyehsm_key_pool_depth{keyspec}               pre-generated key pairs ready
    pyehsm_replay_guard_entries                  live entries in the replay guard, every one counted (above
                                                 100k: at most every 30 s)
    pyehsm_replay_refused_total{reason}          requests refused by the replay guard: ``seen`` (a replay),
                                                 ``before_floor`` (timestamped before what it can vouch for)
    pyehsm_replay_refusing_until_seconds         the guard's floor (Unix time): requests timestamped before
                                                 it are refused; 0 = none (docs/operations.md)
    pyehsm_replay_overflow_total                 replay entries the mapped table (SQLite mode) could not hold: they
                                                 went to its SQLite overflow (slower, still refused when replayed)
    pyehsm_replay_capacity_entries               the mapped replay table's size in entries (SQLite mode)
    pyehsm_rate_limited_total                    requests refused by the per-app rate limit
    pyehsm_info{version, git_sha}                always 1

Labels never carry an appid, a keyid or any request data. With ``--workers N`` the server sets
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode): every worker writes its samples
to that directory and any worker's /metrics answers the sum over all workers (gauges: live workers).
Without it, metrics are those of the one process.

Per-request cost: ``observe`` only adds to plain dicts and lists (well under a microsecond); ``flush``
moves the sums into the prometheus-client metrics, whose every ``inc`` takes a lock and, in multiprocess
mode, writes an mmap-ed file. When each kind of value is flushed, and so how fresh a scrape is:

* requests counter and latency histogram: flushed at every scrape this process answers (exact), and in
  multiprocess mode also MULTIPROC_FLUSH_SECONDS after the first request since the last flush (a group
  commit: one flush covers every request of that window, so a busy worker writes its files at most 200
  times a second), so a scrape answered by another worker misses about this worker's last 5 ms of
  requests at most (more only while its event loop is blocked);
* cache, pool, replay guard and rate-limit values: copied at every scrape this process answers, and in
  multiprocess mode every MULTIPROC_REFRESH_SECONDS (``refresh_forever``): a scrape answered by another
  worker shows this worker's values of up to that long ago.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from bisect import bisect_left
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from pyehsm.clock import Clock

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_REFRESH_SECONDS = 10.0
MULTIPROC_FLUSH_SECONDS = 0.005  # requests observed are in the shared files at most this late
REPLAY_SIZE_REFRESH_MS = 30_000  # a large replay guard is counted at most this often
REPLAY_SIZE_CHEAP = 100_000  # below this many entries counting is cheap: count at every scrape
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_UPPER_BOUNDS = (*LATENCY_BUCKETS, math.inf)  # prometheus-client adds the +Inf bucket
_SUM = len(_UPPER_BOUNDS)  # index of the sum in a pending latency list; before it, the count per bucket


class CacheStats(Protocol):
    hits: int
    misses: int

    def __len__(self) -> int: ...


class LimiterStats(Protocol):
    refused: int


class PoolStats(Protocol):
    def depths(self) -> dict[str, int]: ...


class SizedReplayGuard(Protocol):
    async def size(self, now_ms: int) -> int: ...

    @property
    def floor_ms(self) -> int: ...

    @property
    def refused(self) -> dict[str, int]: ...

    @property
    def overflowed(self) -> int: ...


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(default: Path) -> Path:
    """Before starting N workers: use $PROMETHEUS_MULTIPROC_DIR (or ``default``), emptied of old samples."""
    path = Path(multiprocess_dir() or default)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class Metrics:
    """The node's metrics; ``observe`` is an EhsmEndpoint observer, ``render`` answers /metrics."""

    def __init__(
        self,
        clock: Clock,
        cache: CacheStats,
        pool: PoolStats,
        replay: SizedReplayGuard | None,
        limiter: LimiterStats | None = None,
        *,
        version: str = "",
        git_sha: str = "",
        replay_probe: str = "",
        replay_capacity: int = 0,
    ) -> None:
        self._clock = clock
        self._cache = cache
        self._pool = pool
        self._replay = replay
        self._limiter = limiter
        self.multiprocess = multiprocess_dir() is not None
        # no *_created series: they double the output and nobody graphs them
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pyehsm_requests", "Requests answered.", ["action", "code"], registry=r)
        self.latency = Histogram(
            "pyehsm_request_duration_seconds", "Request latency.", ["action"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.cache_hits = Counter("pyehsm_key_cache_hits", "Parsed-key cache hits.", registry=r)
        self.cache_misses = Counter("pyehsm_key_cache_misses", "Parsed-key cache misses.", registry=r)
        self.cache_entries = Gauge(
            "pyehsm_key_cache_entries", "Parsed keys cached.", registry=r, multiprocess_mode="livesum"
        )
        self.pool_depth = Gauge(
            "pyehsm_key_pool_depth", "Key pairs ready.", ["keyspec"], registry=r, multiprocess_mode="livesum"
        )
        self.replay_entries = Gauge(
            "pyehsm_replay_guard_entries", "Replay guard entries.", registry=r, multiprocess_mode="livemax"
        )
        self.rate_limited = Counter("pyehsm_rate_limited", "Requests refused by the rate limit.", registry=r)
        self.replay_refused = Counter(
            "pyehsm_replay_refused", "Requests refused by the replay guard, by reason.", ["reason"], registry=r
        )
        self.replay_floor = Gauge(
            "pyehsm_replay_refusing_until_seconds",
            "Requests timestamped before this Unix time are refused: the replay guard cannot know whether "
            "they were seen (0: none).",
            registry=r,
            multiprocess_mode="livemax",
        )
        info = Gauge(
            "pyehsm_info", "Build information.", ["version", "git_sha"], registry=r, multiprocess_mode="livemax"
        )
        info.labels(version=version, git_sha=git_sha).set(1)
        if replay_probe:  # the embedded replay table: its C fast path or the Python path
            probe = Gauge(
                "pyehsm_replay_probe_info",
                "Which implementation runs the replay table's common case (c or python).",
                ["impl"],
                registry=r,
                multiprocess_mode="livemax",
            )
            probe.labels(impl=replay_probe).set(1)
        self.replay_overflow = Counter(
            "pyehsm_replay_overflow",
            "Replay entries the mapped table could not hold (both buckets full): kept in its SQLite overflow.",
            registry=r,
        )
        if replay_capacity:  # the embedded replay table's size in entries: fill = entries / capacity
            Gauge(
                "pyehsm_replay_capacity_entries",
                "Entries the mapped replay table holds (--replay-capacity, rounded up to a power of two).",
                registry=r,
                multiprocess_mode="livemax",
            ).set(replay_capacity)
        if not self.multiprocess:
            ProcessCollector(registry=r)
        if list(self.latency._upper_bounds) != list(_UPPER_BOUNDS):  # see _observe_many
            raise RuntimeError("prometheus_client Histogram internals changed")
        # observed, not yet flushed: requests per (action, code); per action [count per bucket ..., sum]
        self._pending_requests: dict[tuple[str, int], int] = {}
        self._pending_latency: dict[str, list[float]] = {}
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}
        # multiprocess mode: other workers read our samples from the mmap-ed files, flush soon after observe
        self._flush_unscheduled = self.multiprocess
        self._seen_hits = 0
        self._seen_misses = 0
        self._seen_refused = 0
        self._replay_checked_ms: int | None = None
        self._replay_size = 0
        self._seen_replay_refused: dict[str, int] = {}
        self._seen_overflowed = 0

    def __repr__(self) -> str:
        return f"<Metrics multiprocess={self.multiprocess}>"

    def observe(self, action: str, code: int, seconds: float) -> None:
        """EhsmEndpoint observer: count the request and record its latency (in memory until ``flush``)."""
        key = (action, code)
        requests = self._pending_requests
        requests[key] = requests.get(key, 0) + 1
        latency = self._pending_latency.get(action)
        if latency is None:
            latency = self._pending_latency[action] = [0.0] * (_SUM + 1)
        # as Histogram.observe: in the first bucket whose upper bound is >= the amount (never NaN here)
        latency[bisect_left(_UPPER_BOUNDS, seconds)] += 1
        latency[_SUM] += seconds
        if self._flush_unscheduled:
            self._schedule_flush()

    def flush(self) -> None:
        """Add the requests observed since the last flush to the prometheus-client metrics."""
        self._flush_unscheduled = self.multiprocess  # (also after a loop that died with a flush scheduled)
        requests, self._pending_requests = self._pending_requests, {}
        latency, self._pending_latency = self._pending_latency, {}
        for key, count in requests.items():
            counter = self._request_children.get(key)
            if counter is None:
                action, code = key
                counter = self._request_children[key] = self.requests.labels(action=action, code=str(code))
            counter.inc(count)
        for action, slots in latency.items():
            histogram = self._latency_children.get(action)
            if histogram is None:
                histogram = self._latency_children[action] = self.latency.labels(action=action)
            _observe_many(histogram, slots)

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a tool, a test): write through
            self.flush()
            return
        self._flush_unscheduled = False
        loop.call_later(MULTIPROC_FLUSH_SECONDS, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("metrics flush failed")

    async def refresh(self) -> None:
        """Flush the observed requests; copy the live values (cache, pool, replay guard) into the metrics."""
        self.flush()
        hits, misses = self._cache.hits, self._cache.misses
        if hits > self._seen_hits:
            self.cache_hits.inc(hits - self._seen_hits)
            self._seen_hits = hits
        if misses > self._seen_misses:
            self.cache_misses.inc(misses - self._seen_misses)
            self._seen_misses = misses
        if self._limiter is not None and self._limiter.refused > self._seen_refused:
            self.rate_limited.inc(self._limiter.refused - self._seen_refused)
            self._seen_refused = self._limiter.refused
        self.cache_entries.set(len(self._cache))
        for keyspec, depth in self._pool.depths().items():
            self.pool_depth.labels(keyspec=keyspec).set(depth)
        now = self._clock.now_ms()
        if self._replay is not None:
            for reason, count in self._replay.refused.items():
                seen = self._seen_replay_refused.get(reason, 0)
                child = self.replay_refused.labels(reason=reason)  # every reason shown, 0 included
                if count > seen:
                    child.inc(count - seen)
                    self._seen_replay_refused[reason] = count
            self.replay_floor.set(self._replay.floor_ms / 1000)
            overflowed = self._replay.overflowed
            if overflowed > self._seen_overflowed:
                self.replay_overflow.inc(overflowed - self._seen_overflowed)
                self._seen_overflowed = overflowed
        if self._replay is not None and (
            self._replay_checked_ms is None
            or self._replay_size < REPLAY_SIZE_CHEAP
            or now - self._replay_checked_ms >= REPLAY_SIZE_REFRESH_MS
        ):
            self._replay_checked_ms = now
            self._replay_size = await self._replay.size(now)
            self.replay_entries.set(self._replay_size)

    async def render(self) -> bytes:
        """The text exposition format (all workers' samples in multiprocess mode)."""
        await self.refresh()
        if self.multiprocess:
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def close(self) -> None:
        """Flush; mark this worker dead so 'live' gauges stop counting it (multiprocess mode)."""
        self.flush()
        if self.multiprocess:
            prom_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _observe_many(histogram: Histogram, slots: list[float]) -> None:
    """``histogram.observe`` for a batch: ``slots[i]`` amounts fell in bucket i, ``slots[_SUM]`` is their sum.

    prometheus-client (0.26) has no public API to add many observations at once, so this uses what
    Histogram.observe uses: ``_sum`` and one ``_buckets[i]`` per upper bound (``_upper_bounds``, +Inf last;
    each counts only its own observations, the exposition accumulates them), values whose ``inc(n)`` adds n
    under their lock (mmap-backed in multiprocess mode). Metrics.__init__ checks ``_upper_bounds``;
    tests/unit/test_metrics.py pins the rendered result in both modes.
    """
    buckets = histogram._buckets
    for i in range(_SUM):
        if slots[i]:
            buckets[i].inc(slots[i])
    histogram._sum.inc(slots[_SUM])


async def refresh_forever(metrics: Metrics, seconds: float = MULTIPROC_REFRESH_SECONDS) -> None:
    """Multiprocess mode: keep this worker's live values current for scrapes answered by other workers."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await metrics.refresh()
        except Exception:
            log.exception("metrics refresh failed")
