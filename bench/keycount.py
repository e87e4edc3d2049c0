"""Key-count scenario: how pyehsm's costs grow with the number of keys it holds.

    .venv/bin/python -m bench.keycount [--sizes 10000,100000,1000000] [--stores sqlite,postgres]
                                       [--layouts one,spread] [--duration 6] [--rounds 3] [--pg URL]

For each store and layout (all keys in one app, or spread over 1,000 apps) one server (`pyehsm serve
--workers 2`, default --key-cache-entries) is started and the keys are loaded in steps up to each size.
Loading uses the bulk path (KeyService.create_many -> Store.insert_keys: real AES-256-GCM keys made and
wrapped by the node's own keyring under its domain key, 10,000 per transaction; SQLite executemany,
PostgreSQL COPY), run in this process against the node's store while it serves: not one HTTP call per key.
At each size it reports:

* CreateKey p50/p99 (a sequential client, over HTTP);
* Encrypt req/s and p99 on keys drawn uniformly at random from all keys (so nearly every request misses
  the worker's key cache) against Encrypt on one hot key, measured in alternating rounds (ratio: the
  median of each round's own ratio; target >= 0.6x at 10^6);
* ListKey (paged, 100 keys) latency of the first page and of a deep page (marker 90 % into the app's keys);
* database bytes per key, and every worker's RSS after the random-key run (RssAnon: the worker's own
  memory; the replay table's mapping is file-backed and shared, reported apart).

PostgreSQL: --pg (a superuser URL; a fresh database is created and dropped), else scripts/pg-test-cluster.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import load, multinode, nodeinfo, procs
from bench.streams import b64
from pyehsm.client import Client
from pyehsm.config import Settings

CONNECTIONS = 32
THREADS = 2
MAX_RPS_GUESS = 30_000
CREATE_SAMPLES = 200
LIST_SAMPLES = 20
APPS_SPREAD = 1000
PLAINTEXT = b64(b"\x5a" * 32)
STREAM_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None


@dataclass
class Node:
    """A server under test: its URL, process, data dir and store."""

    root_url: str
    pid: int
    data_dir: Path
    store: str  # "" (SQLite in data_dir) or a postgresql:// URL
    apps: list[tuple[str, str]] = field(default_factory=list)  # (appid, apikey)
    keys: list[tuple[int, str]] = field(default_factory=list)  # (index into apps, keyid)


@dataclass
class SizeReport:
    store: str
    layout: str
    keys: int
    load_seconds: float
    create_p50_ms: float
    create_p99_ms: float
    hot_rps: float
    hot_p99_ms: float
    random_rps: float
    random_p99_ms: float
    ratio: float
    list_first_ms: float
    list_deep_ms: float
    db_bytes_per_key: float
    rss_anon_mib: list[float]
    rss_total_mib: list[float]
    errors: int


@contextlib.contextmanager
def server(store: str, extra: list[str] | None = None) -> Iterator[Node]:
    port = procs.free_port()
    with tempfile.TemporaryDirectory(prefix="pyehsm-bench-keys-") as tmp:
        data = Path(tmp)
        cmd = [sys.executable, "-m", "pyehsm", "serve", "--port", str(port), "--data-dir", str(data),
               "--workers", "2", "--log-level", "warning", "--pool-depth", multinode.NO_POOL,
               *(["--store", store] if store else []), *(extra or [])]  # fmt: skip
        with procs.process(cmd, None, "keycount") as proc:
            procs.wait_http(f"http://127.0.0.1:{port}/readyz")
            yield Node(f"http://127.0.0.1:{port}", proc.pid, data, store)


async def _bulk_load(node: Node, layout: str, count: int) -> None:
    """Add ``count`` keys through the node's own store and keyring (the bulk path), apps first if needed."""
    from pyehsm.app import open_runtime
    from pyehsm.crypto.keyspecs import keyspec

    runtime = await open_runtime(Settings(data_dir=node.data_dir, store=node.store, pool_depth={}))
    try:
        services = runtime.services
        while len(node.apps) < (1 if layout == "one" else APPS_SPREAD):
            node.apps.append(await services.apps.enroll())
        spec = keyspec("EH_AES_GCM_256")
        share, extra = divmod(count, len(node.apps))
        for i, (appid, _) in enumerate(node.apps):
            n = share + (1 if i < extra else 0)
            if n:
                node.keys.extend((i, k) for k in await services.keys.create_many(appid, spec, n))
    finally:
        await runtime.close()


def bulk_load(node: Node, layout: str, count: int) -> float:
    started = time.perf_counter()
    asyncio.run(_bulk_load(node, layout, count))
    return time.perf_counter() - started


def create_latencies(node: Node, samples: int) -> tuple[float, float]:
    appid, apikey = node.apps[0]
    latencies = []
    with Client(f"{node.root_url}/ehsm", appid, apikey) as c:
        c.create_key("EH_AES_GCM_256")  # warm the connection
        for _ in range(samples):
            started = time.perf_counter()
            c.create_key("EH_AES_GCM_256")
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def write_stream(path: Path, node: Node, picks: list[tuple[int, str]], prefix: str) -> Path:
    """Signed Encrypt requests, the i-th with key picks[i] under its own app; every nonce unique."""
    from bench.streams import _encode
    from pyehsm.protocols.ehsm.signing import sign_request

    now = int(time.time() * 1000)
    with path.open("w") as out:
        for i, (app, keyid) in enumerate(picks):
            appid, apikey = node.apps[app]
            timestamp, nonce = str(now + (i % 1000)), f"{prefix}{i}"
            payload = {"keyid": keyid, "plaintext": PLAINTEXT}
            sign = sign_request(apikey, appid, timestamp, payload, nonce)
            body = _encode({"appid": appid, "timestamp": timestamp, "nonce": nonce, "payload": payload, "sign": sign})
            out.write(f"POST\t/ehsm?Action=Encrypt\tContent-Type:application/json\t{body.decode()}\n")
    return path


def encrypt_run(wrk: str, node: Node, hot: bool, seconds: float, tag: str) -> load.WrkRun:
    count = int(MAX_RPS_GUESS * seconds * 1.3)
    picks = [node.keys[0]] * count if hot else random.choices(node.keys, k=count)
    path = Path(tempfile.mkstemp(prefix="pyehsm-keycount-", suffix=".txt", dir=STREAM_DIR)[1])
    try:
        write_stream(path, node, picks, f"{tag}-")
        return load.checked_wrk(wrk, node.root_url, path, CONNECTIONS, THREADS, seconds, pyehsm=True)
    finally:
        path.unlink()


def deep_marker(node: Node, appid: str, fraction: float) -> str | None:
    """The ListKey marker of the key ``fraction`` of the way into the app's keys (creation order)."""
    total = sum(1 for app, _ in node.keys if node.apps[app][0] == appid)
    offset = max(0, int(total * fraction) - 1)
    query = "SELECT created_ms, keyid FROM keys WHERE appid = {p} ORDER BY created_ms, keyid LIMIT 1 OFFSET {p}"
    if node.store:
        import psycopg

        with psycopg.connect(node.store) as conn:
            row = conn.execute(query.format(p="%s").encode(), (appid, offset)).fetchone()
    else:
        import sqlite3

        with contextlib.closing(sqlite3.connect(node.data_dir / "pyehsm.db")) as conn:
            row = conn.execute(query.format(p="?"), (appid, offset)).fetchone()
    return f"{row[0]}.{row[1]}" if row else None


def list_latency(node: Node, marker: str | None) -> float:
    appid, apikey = node.apps[0]
    times = []
    with Client(f"{node.root_url}/ehsm", appid, apikey) as c:
        c.list_key_page(100, marker)
        for _ in range(LIST_SAMPLES):
            started = time.perf_counter()
            c.list_key_page(100, marker)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def db_bytes(node: Node) -> int:
    return nodeinfo.postgres_bytes(node.store) if node.store else nodeinfo.sqlite_bytes(node.data_dir)


def measure(wrk: str, node: Node, store: str, layout: str, load_s: float, duration: float, rounds: int) -> SizeReport:
    size = len(node.keys)
    p50, p99 = create_latencies(node, CREATE_SAMPLES)
    hot_runs: list[load.WrkRun] = []
    random_runs: list[load.WrkRun] = []
    encrypt_run(wrk, node, True, 2, f"w{size}h")  # warm-up, not counted
    encrypt_run(wrk, node, False, 2, f"w{size}r")
    for r in range(rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        for hot in order:
            run = encrypt_run(wrk, node, hot, duration, f"s{size}r{r}{'h' if hot else 'r'}")
            (hot_runs if hot else random_runs).append(run)
    ratio = statistics.median(m.rps / h.rps for m, h in zip(random_runs, hot_runs, strict=True))
    pids = nodeinfo.workers(node.pid)
    memory = [nodeinfo.memory_mib(p) for p in pids]
    marker = deep_marker(node, node.apps[0][0], 0.9)
    return SizeReport(
        store=store,
        layout=layout,
        keys=size,
        load_seconds=load_s,
        create_p50_ms=p50,
        create_p99_ms=p99,
        hot_rps=statistics.median(h.rps for h in hot_runs),
        hot_p99_ms=statistics.median(h.p99_ms for h in hot_runs),
        random_rps=statistics.median(m.rps for m in random_runs),
        random_p99_ms=statistics.median(m.p99_ms for m in random_runs),
        ratio=ratio,
        list_first_ms=list_latency(node, None),
        list_deep_ms=list_latency(node, marker),
        db_bytes_per_key=db_bytes(node) / max(1, size),
        rss_anon_mib=[m.get("RssAnon", 0.0) for m in memory],
        rss_total_mib=[m.get("VmRSS", 0.0) for m in memory],
        errors=sum(r.errors for r in hot_runs + random_runs),
    )


def run_layout(
    wrk: str, store_url: str, store: str, layout: str, sizes: list[int], duration: float, rounds: int
) -> list[SizeReport]:
    reports = []
    with server(store_url) as node:
        for size in sizes:
            seconds = bulk_load(node, layout, size - len(node.keys))
            print(f"{store}/{layout}: {len(node.keys):,} keys loaded ({seconds:.1f} s)", file=sys.stderr, flush=True)
            reports.append(measure(wrk, node, store, layout, seconds, duration, rounds))
            print_reports(reports[-1:], header=False)
    return reports


def run(
    wrk: str, sizes: list[int], stores: list[str], layouts: list[str], duration: float, rounds: int, pg: str | None
) -> list[SizeReport]:
    reports: list[SizeReport] = []
    for store in stores:
        if store == "sqlite":
            for layout in layouts:
                reports += run_layout(wrk, "", store, layout, sizes, duration, rounds)
            continue
        with multinode.postgres_server(pg) as server_url:
            for layout in layouts:
                with multinode.fresh_database(server_url) as db:
                    reports += run_layout(wrk, db, store, layout, sizes, duration, rounds)
    return reports


COLUMNS = ("store", "layout", "keys", "load s", "create p50/p99 ms", "hot req/s", "hot p99", "random req/s",
           "random p99", "random/hot", "list first/deep ms", "DB B/key", "RSS anon MiB (total)", "errors")  # fmt: skip


def row(r: SizeReport) -> tuple[str, ...]:
    rss = ", ".join(f"{a:.0f} ({t:.0f})" for a, t in zip(r.rss_anon_mib, r.rss_total_mib, strict=True))
    return (r.store, r.layout, f"{r.keys:,}", f"{r.load_seconds:.1f}", f"{r.create_p50_ms:.2f}/{r.create_p99_ms:.2f}",
            f"{r.hot_rps:,.0f}", f"{r.hot_p99_ms:.2f}", f"{r.random_rps:,.0f}", f"{r.random_p99_ms:.2f}",
            f"{r.ratio:.2f}", f"{r.list_first_ms:.2f}/{r.list_deep_ms:.2f}", f"{r.db_bytes_per_key:,.0f}", rss,
            str(r.errors))  # fmt: skip


def print_reports(reports: list[SizeReport], header: bool = True) -> None:
    lines = [row(r) for r in reports]
    if header:
        print(" | ".join(COLUMNS))
    for line in lines:
        print(" | ".join(line), flush=True)


def verdicts(reports: list[SizeReport]) -> list[str]:
    """The issue's targets, per store and layout: random/hot >= 0.6 at the largest size, CreateKey p99 there
    <= 2x its value at the smallest, RssAnon there <= 1.25x (+16 MiB) its value at the smallest."""
    out = []
    for key in sorted({(r.store, r.layout) for r in reports}):
        series = sorted((r for r in reports if (r.store, r.layout) == key), key=lambda r: r.keys)
        small, big = series[0], series[-1]
        rss_small, rss_big = max(small.rss_anon_mib), max(big.rss_anon_mib)
        checks = {
            f"random/hot {big.ratio:.2f} >= 0.6": big.ratio >= 0.6,
            f"CreateKey p99 {big.create_p99_ms:.2f} <= 2 x {small.create_p99_ms:.2f}": big.create_p99_ms
            <= 2 * small.create_p99_ms,
            f"RSS anon {rss_big:.0f} <= 1.25 x {rss_small:.0f} + 16 MiB": rss_big <= 1.25 * rss_small + 16,
            "no errors": all(r.errors == 0 for r in series),
        }
        for text, ok in checks.items():
            out.append(f"{key[0]}/{key[1]} at {big.keys:,} keys: {text}: {'met' if ok else 'UNMET'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keycount", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="key counts, ascending, comma-separated")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--layouts", default="one,spread", help="one: every key in one app; spread: 1,000 apps")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per Encrypt measurement")
    parser.add_argument("--rounds", type=int, default=3, help="hot/random rounds per size")
    parser.add_argument("--pg", default=None, help="PostgreSQL superuser URL (default: scripts/pg-test-cluster.sh)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk") or sys.exit("wrk is required: apt-get install wrk")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    stores, layouts = args.stores.split(","), args.layouts.split(",")
    reports = run(wrk, sizes, stores, layouts, args.duration, args.rounds, args.pg)
    print()
    print_reports(reports)
    results = verdicts(reports)
    print("\n".join(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2))
    return 0 if all(line.endswith(": met") for line in results) else 1


def keycount(env: Any) -> Iterator[dict[str, Any]]:
    """Key count (10^4, 10^5; --quick: 10^4 only) on SQLite, one app: random-key Encrypt vs one hot key (report);
    the full scenario with 10^6 keys and PostgreSQL is `python -m bench.keycount`."""
    sizes = [10_000] if env.quick else [10_000, 100_000]
    for r in run(env.wrk_path, sizes, ["sqlite"], ["one"], env.duration, env.rounds, None):
        yield {
            "scenario": f"keycount {r.keys:,} keys, random key",
            "pyehsm_rps": r.random_rps,
            "p50_ms": 0.0,
            "p99_ms": r.random_p99_ms,
            "peer": "one hot key",
            "peer_rps": r.hot_rps,
            "ratio": r.ratio,
            "target": "report (0.6x at 10^6)",
            "met": r.errors == 0,
            "errors": r.errors,
            "note": f"CreateKey p50/p99 {r.create_p50_ms:.2f}/{r.create_p99_ms:.2f} ms, RssAnon {r.rss_anon_mib} MiB",
        }


if __name__ == "__main__":
    sys.exit(main())
