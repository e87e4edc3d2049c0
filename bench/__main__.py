"""Benchmark runner: `python -m bench [--quick] [--only NAME ...] [--duration S] [--rounds N]`.

Starts pyehsm (uvicorn, 2 workers) and its peers (a bare Starlette endpoint on the same stack,
OpenBao's transit engine) on 127.0.0.1 free ports, drives each with wrk (32 connections) using
correctly signed, never-repeated requests, and prints one table of ratios measured side by side in
this run: each comparison runs in rounds, every round measuring each contender in turn, and reports
medians over the rounds. Rows with any failed request are marked failed. Results also go to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import scenarios
from pyehsm.store.mapped_replay import PROBE_IMPL

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass
class Row:
    scenario: str
    pyehsm_rps: float
    p50_ms: float
    p99_ms: float
    peer: str
    peer_rps: float
    ratio: float
    target: str
    met: bool
    errors: int
    note: str = ""
    peer_p99_ms: float = 0.0  # in results.json only: the peer's own tail latency in this run
    rounds: int = 1  # the figures are medians over this many rounds (ratios: of each round's own ratio)
    pyehsm_runs: list[dict[str, Any]] = field(default_factory=list)  # every round's measurement
    peer_runs: list[dict[str, Any]] = field(default_factory=list)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing wrk (Debian package)...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: apt-get install wrk")
    return found


def print_table(rows: list[Row]) -> None:
    head = ("scenario", "pyehsm req/s", "p50 ms", "p99 ms", "peer", "peer req/s", "ratio", "target", "result")
    lines = [head] + [
        (
            r.scenario,
            f"{r.pyehsm_rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            r.peer,
            f"{r.peer_rps:,.0f}" if r.peer_rps else "-",
            f"{r.ratio:.2f}" if r.ratio else "-",
            r.target,
            ("met" if r.met else "UNMET") + (f" ({r.errors} errors)" if r.errors else ""),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for r in rows:
        if r.note:
            print(f"note [{r.scenario}]: {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (one round of 3 s per measurement)")
    parser.add_argument("--only", action="append", default=[], help="run only these scenarios (repeatable)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement (default 6, quick 3)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per comparison, contenders alternating (default 3, quick 1)"
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, scenario in scenarios.SCENARIOS.items():
            print(f"{name}: {scenario.__doc__}")
        return 0
    duration = args.duration or (3.0 if args.quick else 6.0)
    rounds = args.rounds or (1 if args.quick else 3)
    wrk = ensure_wrk()
    names = args.only or list(scenarios.SCENARIOS)
    unknown = [n for n in names if n not in scenarios.SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    # the replay table's common case: the C extension, or the Python path where it was not built
    print(f"replay table: the {PROBE_IMPL} path", file=sys.stderr, flush=True)
    env = scenarios.BenchEnv(wrk_path=wrk, duration=duration, quick=args.quick, rounds=rounds)
    rows: list[Row] = []
    try:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            for result in scenarios.SCENARIOS[name](env):
                rows.append(Row(**result))
    finally:
        env.close()
    print_table(rows)
    print(f"replay table: the {PROBE_IMPL} path (pyehsm_replay_probe_info on /metrics)")
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
                "replay_probe": PROBE_IMPL,
                "duration_s": duration,
                "rounds": rounds,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
    )
    print(f"\nresults written to {RESULTS}")
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
