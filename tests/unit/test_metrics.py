"""Metrics: ``observe`` only counts in memory; ``flush`` (at every scrape, at close and, with several workers,
soon after the request) must publish exactly what prometheus-client's Counter.inc + Histogram.observe per
request published, in single-process and in multiprocess mode."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from pyehsm.clock import SystemClock
from pyehsm.metrics import LATENCY_BUCKETS, MULTIPROC_ENV, Metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

LE = ("0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf")

# (action, code, seconds); the amounts are binary fractions, so every sum is exact whatever the grouping
OBSERVED: list[tuple[str, int, float]] = [
    ("Encrypt", 200, 2**-12),  # le=0.0005
    ("Encrypt", 200, 0.25),  # on a bound: counted in that bucket
    ("Encrypt", 400, 2**-7),  # le=0.01
    ("Decrypt", 200, 0.5),
    ("Decrypt", 200, 8.0),  # above the last bound: +Inf only
    ("unknown", 404, 0.0),
]


def histogram(action: str, cumulative: list[int], total: float) -> Samples:
    assert len(cumulative) == len(LE)
    name = "pyehsm_request_duration_seconds"
    out: Samples = {
        (f"{name}_bucket", (("action", action), ("le", le))): float(n) for le, n in zip(LE, cumulative, strict=True)
    }
    out[(f"{name}_count", (("action", action),))] = float(cumulative[-1])
    out[(f"{name}_sum", (("action", action),))] = total
    return out


def requests(action: str, code: str, n: int) -> Samples:
    return {("pyehsm_requests_total", (("action", action), ("code", code))): float(n)}


EXPECTED: Samples = {
    **requests("Encrypt", "200", 2),
    **requests("Encrypt", "400", 1),
    **requests("Decrypt", "200", 2),
    **requests("unknown", "404", 1),
    **histogram("Encrypt", [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3], 2**-12 + 0.25 + 2**-7),
    **histogram("Decrypt", [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2], 8.5),
    **histogram("unknown", [1] * 14, 0.0),
}


def request_samples(text: str | bytes) -> Samples:
    """The requests counter and latency histogram samples of an exposition text, nothing else."""
    text = text.decode() if isinstance(text, bytes) else text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("pyehsm_requests_", "pyehsm_request_duration_seconds_"))
    }


class Cache:
    hits = 0
    misses = 0

    def __len__(self) -> int:
        return 0


class Pool:
    def depths(self) -> dict[str, int]:
        return {}


def single_process_metrics() -> Metrics:
    assert MULTIPROC_ENV not in os.environ
    metrics = Metrics(SystemClock(), Cache(), Pool(), None)
    assert not metrics.multiprocess
    return metrics


async def test_the_replay_probe_in_use_is_an_info_gauge() -> None:
    for impl in ("c", "python"):
        text = (await Metrics(SystemClock(), Cache(), Pool(), None, replay_probe=impl).render()).decode()
        assert f'pyehsm_replay_probe_info{{impl="{impl}"}} 1.0' in text.splitlines()
    without = (await single_process_metrics().render()).decode()  # no replay table (PostgreSQL's guard)
    assert "pyehsm_replay_probe_info" not in without


async def test_a_scrape_is_exact_after_observes() -> None:
    metrics = single_process_metrics()
    for observed in OBSERVED[:3]:
        metrics.observe(*observed)
    first = request_samples(await metrics.render())
    assert first[("pyehsm_requests_total", (("action", "Encrypt"), ("code", "200")))] == 2
    assert first[("pyehsm_request_duration_seconds_count", (("action", "Encrypt"),))] == 3
    for observed in OBSERVED[3:]:
        metrics.observe(*observed)
    assert request_samples(await metrics.render()) == EXPECTED
    assert request_samples(await metrics.render()) == EXPECTED  # a flush without news adds nothing


def test_observe_only_counts_until_flush_and_close_flushes() -> None:
    metrics = single_process_metrics()
    for observed in OBSERVED:
        metrics.observe(*observed)
    assert request_samples(generate_latest(metrics.registry)) == {}
    metrics.flush()
    assert request_samples(generate_latest(metrics.registry)) == EXPECTED
    metrics.observe("Encrypt", 200, 2**-12)
    metrics.close()
    after_close = request_samples(generate_latest(metrics.registry))
    assert after_close[("pyehsm_requests_total", (("action", "Encrypt"), ("code", "200")))] == 3
    assert after_close[("pyehsm_request_duration_seconds_bucket", (("action", "Encrypt"), ("le", "0.0005")))] == 2


async def test_buckets_and_sum_are_those_of_histogram_observe() -> None:
    """Every bound, the floats either side of it, zero, negative, huge and infinite amounts."""
    amounts = [0.0, -1.0, 1e9, math.inf, 2**-20]
    for bound in LATENCY_BUCKETS:
        amounts += [math.nextafter(bound, 0.0), bound, math.nextafter(bound, math.inf)]
    metrics = single_process_metrics()
    oracle = CollectorRegistry()  # what observe() did before it was batched
    counter = Counter("pyehsm_requests", "Requests answered.", ["action", "code"], registry=oracle)
    latency = Histogram(
        "pyehsm_request_duration_seconds", "Request latency.", ["action"], buckets=LATENCY_BUCKETS, registry=oracle
    )
    for amount in amounts:
        metrics.observe("Sign", 200, amount)
        counter.labels(action="Sign", code="200").inc()
        latency.labels(action="Sign").observe(amount)
    got = request_samples(await metrics.render())
    assert got == request_samples(generate_latest(oracle))
    first_bucket = ("pyehsm_request_duration_seconds_bucket", (("action", "Sign"), ("le", "0.0005")))
    assert got[first_bucket] == 5  # -1, 0, 2**-20, the bound and the float below it
    assert got[("pyehsm_request_duration_seconds_count", (("action", "Sign"),))] == len(amounts)


# A worker in multiprocess mode (prometheus-client picks its mode when imported, so: a fresh interpreter).
WORKER = """
import asyncio, json, sys
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pyehsm.clock import SystemClock
from pyehsm.metrics import MULTIPROC_FLUSH_SECONDS, Metrics

class Cache:
    hits = misses = 0
    def __len__(self): return 0

class Pool:
    def depths(self): return {}

def shared():  # what /metrics answered by any other worker shows
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry).decode()

async def main(observed):
    out = {}
    metrics = Metrics(SystemClock(), Cache(), Pool(), None)
    out["multiprocess"] = metrics.multiprocess
    for o in observed[:3]:
        metrics.observe(*o)
    out["at_once"] = shared()
    await asyncio.sleep(MULTIPROC_FLUSH_SECONDS * 4)
    out["soon_after"] = shared()
    for o in observed[3:]:
        metrics.observe(*o)
    out["render"] = (await metrics.render()).decode()
    metrics.observe("Encrypt", 200, 2**-12)
    metrics.close()  # before the scheduled flush
    return out

print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
"""


def test_multiprocess_mode_publishes_the_same_samples(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(OBSERVED)], env=env, capture_output=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr.decode()
    out = json.loads(run.stdout)
    assert out["multiprocess"] is True
    assert request_samples(out["at_once"]) == {}  # observe() wrote nothing to the shared files
    first = request_samples(out["soon_after"])  # ... the flush MULTIPROC_FLUSH_SECONDS later did
    assert first[("pyehsm_requests_total", (("action", "Encrypt"), ("code", "200")))] == 2
    assert first[("pyehsm_request_duration_seconds_bucket", (("action", "Encrypt"), ("le", "0.01")))] == 2
    assert request_samples(out["render"]) == EXPECTED  # a scrape flushes first

    # another worker, after this one closed: close() flushed the last request
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    final = request_samples(generate_latest(registry))
    assert final == {
        **EXPECTED,
        **requests("Encrypt", "200", 3),
        **histogram("Encrypt", [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4], 2 * 2**-12 + 0.25 + 2**-7),
    }
