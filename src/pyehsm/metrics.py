"""Prometheus metrics, served at /metrics.

    pyehsm_requests_total{action, code}          requests answered, by Action and envelope code
    pyehsm_request_duration_seconds{action}      latency histogram (body read to response sent)
    pyehsm_key_cache_hits_total / _misses_total  parsed-key cache lookups
    pyehsm_key_cache_entries                     parsed keys held
    pyehsm_key_pool_depth{keyspec}               pre-generated key pairs ready
    pyehsm_replay_guard_entries                  entries in the replay guard (above 100k: counted every 30 s)
    pyehsm_rate_limited_total                    requests refused by the per-app rate limit
    pyehsm_info{version, git_sha}                always 1

Labels never carry an appid, a keyid or any request data. With ``--workers N`` the server sets
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode): every worker writes its samples
to that directory and any worker's /metrics answers the sum over all workers (gauges: live workers).
Without it, metrics are those of the one process.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
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
REPLAY_SIZE_REFRESH_MS = 30_000  # a large replay guard is counted at most this often
REPLAY_SIZE_CHEAP = 100_000  # below this many entries counting is cheap: count at every scrape
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class CacheStats(Protocol):
    hits: int
    misses: int

    def __len__(self) -> int: ...


class LimiterStats(Protocol):
    refused: int


class PoolStats(Protocol):
    def depths(self) -> dict[str, int]: ...


class SizedReplayGuard(Protocol):
    async def size(self) -> int: ...


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
        info = Gauge(
            "pyehsm_info", "Build information.", ["version", "git_sha"], registry=r, multiprocess_mode="livemax"
        )
        info.labels(version=version, git_sha=git_sha).set(1)
        if not self.multiprocess:
            ProcessCollector(registry=r)
        self._children: dict[tuple[str, int], tuple[Callable[[], None], Callable[[float], None]]] = {}
        self._seen_hits = 0
        self._seen_misses = 0
        self._seen_refused = 0
        self._replay_checked_ms: int | None = None
        self._replay_size = 0

    def __repr__(self) -> str:
        return f"<Metrics multiprocess={self.multiprocess}>"

    def observe(self, action: str, code: int, seconds: float) -> None:
        """EhsmEndpoint observer: count the request and record its latency."""
        child = self._children.get((action, code))
        if child is None:
            counter = self.requests.labels(action=action, code=str(code))
            histogram = self.latency.labels(action=action)
            child = self._children[(action, code)] = (counter.inc, histogram.observe)
        child[0]()
        child[1](seconds)

    async def refresh(self) -> None:
        """Copy the live values (cache, pool, replay guard) into the metrics."""
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
        if self._replay is not None and (
            self._replay_checked_ms is None
            or self._replay_size < REPLAY_SIZE_CHEAP
            or now - self._replay_checked_ms >= REPLAY_SIZE_REFRESH_MS
        ):
            self._replay_checked_ms = now
            self._replay_size = await self._replay.size()
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
        """Mark this worker dead so 'live' gauges stop counting it (multiprocess mode)."""
        if self.multiprocess:
            prom_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def refresh_forever(metrics: Metrics, seconds: float = MULTIPROC_REFRESH_SECONDS) -> None:
    """Multiprocess mode: keep this worker's live values current for scrapes answered by other workers."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await metrics.refresh()
        except Exception:
            log.exception("metrics refresh failed")
