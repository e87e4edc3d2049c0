"""Scale-out benchmark: Encrypt throughput and latency on 1 node + SQLite, 1 node + PostgreSQL and
2 nodes + PostgreSQL (each node `pyehsm serve` with 1 worker), printed side by side.

Run it alone:

    .venv/bin/python -m bench.multinode [--duration 10] [--connections 32] [--pg postgresql://...]

or from the runner, once ``scale_out`` is registered in bench/scenarios.py SCENARIOS
(``"scale_out": multinode.scale_out``): ``python -m bench --only scale_out``.

PostgreSQL: ``--pg`` (a superuser URL; a fresh database is created in it and dropped afterwards), else
scripts/pg-test-cluster.sh finds 127.0.0.1:5432 or starts a private cluster. Load: wrk with
bench/replay.lua and pre-signed, never-repeated requests (the replay guard stays on). With two nodes,
two wrk processes run at once, one per node, each with half the connections and its own app; the
rows report the summed throughput and the worse of the two p50/p99. Everything runs on this
machine, so the nodes, PostgreSQL and wrk share its cores: the numbers compare configurations, they
do not predict a multi-machine deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import load, procs
from bench.streams import b64, write_pyehsm_stream
from pyehsm.client import Client
from pyehsm.config import DEFAULT_POOL_DEPTH

SCRIPT = procs.REPO / "scripts" / "pg-test-cluster.sh"
PLAINTEXT = b64(b"\x5a" * 32)
NO_POOL = ",".join(f"{name}=0" for name in DEFAULT_POOL_DEPTH)
RPS_GUESS_PER_NODE = 20_000  # sizes the pre-signed request streams (every request is used at most once)


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    exhausted: bool = False


# -- PostgreSQL ------------------------------------------------------------------------------------
@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """A superuser URL: ``url`` as given, or the one scripts/pg-test-cluster.sh finds or starts."""
    if url:
        yield url
        return
    out = subprocess.run(["bash", str(SCRIPT), "start"], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    cluster_dir = lines[1].strip() if len(lines) > 1 else ""
    try:
        yield lines[0].strip()
    finally:
        if cluster_dir:
            subprocess.run(["bash", str(SCRIPT), "stop", cluster_dir], check=False)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    import psycopg

    name = f"pyehsm_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# -- nodes and load --------------------------------------------------------------------------------
@contextlib.contextmanager
def node(extra: list[str]) -> Iterator[str]:
    with procs.pyehsm(workers=1, extra=extra, env={"PYEHSM_POOL_DEPTH": NO_POOL}) as base:
        yield base


def wrk(wrk_path: str, base: str, stream: Path, connections: int, duration: float) -> Measurement:
    threads = max(1, min(2, connections))
    run = load.checked_wrk(wrk_path, base.removesuffix("/ehsm"), stream, connections, threads, duration, pyehsm=True)
    return Measurement(run.rps, run.p50_ms, run.p99_ms, run.errors, run.exhausted)


def encrypt_load(wrk_path: str, bases: list[str], connections: int, duration: float, workdir: Path) -> Measurement:
    """Encrypt on every node at once (one app and one key per node, all in the shared store)."""
    streams = []
    count = int(RPS_GUESS_PER_NODE * duration * 1.5)
    for i, base in enumerate(bases):
        with Client.enroll(base) as client:
            keyid = client.create_key("EH_AES_GCM_256")
            payload = {"keyid": keyid, "plaintext": PLAINTEXT}
            path = workdir / f"enc-{i}.txt"
            same_payload = functools.partial(_same, payload)
            streams.append(write_pyehsm_stream(path, client.appid, client.apikey, "Encrypt", same_payload, count))
    results: list[Measurement | None] = [None] * len(bases)
    share = max(1, connections // len(bases))

    def run(i: int) -> None:
        results[i] = wrk(wrk_path, bases[i], streams[i], share, duration)

    runners = [threading.Thread(target=run, args=(i,)) for i in range(len(bases))]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    for stream in streams:
        stream.unlink()
    done = [r for r in results if r is not None]
    if len(done) != len(bases):
        raise RuntimeError("a load generator failed")
    return Measurement(
        sum(r.rps for r in done),
        max(r.p50_ms for r in done),
        max(r.p99_ms for r in done),
        sum(r.errors for r in done),
        any(r.exhausted for r in done),
    )


def measure(wrk_path: str, duration: float, connections: int, pg_url: str | None) -> list[tuple[str, Measurement]]:
    rows: list[tuple[str, Measurement]] = []
    with tempfile.TemporaryDirectory(prefix="pyehsm-bench-multinode-") as tmp:
        workdir = Path(tmp)
        with node([]) as base:
            rows.append(("1 node, SQLite", encrypt_load(wrk_path, [base], connections, duration, workdir)))
        root_key = workdir / "root.key"
        fd = os.open(root_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
        with postgres_server(pg_url) as server, fresh_database(server) as db:
            pg_args = ["--store", db, "--root-key", f"file:{root_key}"]
            with node(pg_args) as base:
                rows.append(("1 node, PostgreSQL", encrypt_load(wrk_path, [base], connections, duration, workdir)))
            with node(pg_args) as a, node(pg_args) as b:
                rows.append(("2 nodes, PostgreSQL", encrypt_load(wrk_path, [a, b], connections, duration, workdir)))
    return rows


def print_rows(rows: list[tuple[str, Measurement]]) -> None:
    base = rows[0][1].rps or 1.0
    head = ("Encrypt (AES-GCM-256, 32 B)", "req/s", "p50 ms", "p99 ms", "vs 1 node SQLite", "errors")
    lines = [head] + [
        (name, f"{m.rps:,.0f}", f"{m.p50_ms:.2f}", f"{m.p99_ms:.2f}", f"{m.rps / base:.2f}x", str(m.errors))
        for name, m in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if any(m.exhausted for _, m in rows):
        print("note: a request stream ran out (raise RPS_GUESS_PER_NODE)")


def scale_out(env: Any) -> Iterator[dict[str, Any]]:
    """Encrypt on 1 node + SQLite, 1 node + PostgreSQL, 2 nodes + PostgreSQL (1 worker each)."""
    rows = measure(env.wrk_path, env.duration, 32, os.environ.get("PYEHSM_BENCH_PG") or None)
    sqlite_rps = rows[0][1].rps
    for name, m in rows:
        yield {
            "scenario": f"encrypt, {name}",
            "pyehsm_rps": m.rps,
            "p50_ms": m.p50_ms,
            "p99_ms": m.p99_ms,
            "peer": "1 node, SQLite",
            "peer_rps": sqlite_rps,
            "ratio": m.rps / sqlite_rps if sqlite_rps else 0.0,
            "target": "report",
            "met": m.errors == 0,
            "errors": m.errors,
            "note": "request stream exhausted" if m.exhausted else "",
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.multinode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32, help="connections in total (split across nodes)")
    parser.add_argument("--pg", default=None, help="PostgreSQL superuser URL (default: scripts/pg-test-cluster.sh)")
    args = parser.parse_args(argv)
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        sys.exit("wrk is required: apt-get install wrk")
    rows = measure(wrk_path, args.duration, args.connections, args.pg)
    print_rows(rows)
    return 0 if all(m.errors == 0 for _, m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())


def _same(payload: dict[str, Any], _: int) -> dict[str, Any]:
    """Every request of a stream carries this payload (the nonce makes each one unique)."""
    return payload
