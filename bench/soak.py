"""Soak: mixed traffic at about 70 % of the measured maximum for a long time, one row per minute.

    .venv/bin/python -m bench.soak --minutes 30            # the full run (about 33 minutes)
    .venv/bin/python -m bench.soak --minutes 3 --settle 1  # a short check while developing

One server (`pyehsm serve --workers 2`, audit log on, SQLite; ``--pg URL`` for PostgreSQL). The traffic is
one signed, never-repeated request stream mixing Encrypt, Decrypt, GenerateDataKey, Sign (P-256), CreateKey
and PutSecretValue. First its maximum rate is measured (wrk at full speed, ``--probe`` seconds), then every
minute wrk replays a fresh stream paced to ``--load`` of that maximum (each connection pauses between
requests: a copy of bench/replay.lua with a Lua ``delay()``; the pause is recalibrated after every minute,
since a lighter load answers faster and a fixed pause overshoots the target). The next minute's stream is
signed in a thread while the current one runs (a constant extra load).
Each minute reports req/s, p99, errors (envelope codes, bench/load.py), every worker's RSS (RssAnon and
VmRSS) and open file descriptors, the replay table's fill (pyehsm_replay_guard_entries /
pyehsm_replay_capacity_entries) and the database size. Verdict, from minute ``--settle`` on: RssAnon within
10 % and p99 within 1.5x of that minute's, and zero errors.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import keycount, load, nodeinfo, procs
from bench.streams import _encode, b64
from pyehsm.client import Client
from pyehsm.protocols.ehsm.signing import sign_request

CONNECTIONS = 32
THREADS = 2
PACED_LUA = """
function delay()
  return pause
end
local _init = init
function init(args)
  _init(args)
  pause = tonumber(args[3]) or 0
end
"""


Pick = Callable[[int], tuple[str, dict[str, Any]]]  # request number -> (Action, payload)


@dataclass
class Minute:
    minute: int
    rps: float
    p99_ms: float
    errors: int
    rss_anon_mib: list[float]
    rss_mib: list[float]
    fds: list[int]
    replay_fill: float
    db_mib: float


def mix(c: Client) -> Pick:
    """The i-th request's (Action, payload): 30 % Encrypt, 30 % Decrypt, 20 % GenerateDataKey, 16 % Sign,
    2 % CreateKey, 2 % PutSecretValue."""
    aes = c.create_key("EH_AES_GCM_256")
    ec = c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    ciphertext = b64(c.encrypt(aes, b"\x5a" * 32))
    c.create_secret("soak", "v0")
    plain = {"keyid": aes, "plaintext": b64(b"\x5a" * 32)}
    table: list[tuple[str, dict[str, Any]]] = (
        [("Encrypt", plain)] * 15
        + [("Decrypt", {"keyid": aes, "ciphertext": ciphertext})] * 15
        + [("GenerateDataKey", {"keyid": aes, "keylen": 32})] * 10
        + [
            (
                "Sign",
                {
                    "keyid": ec,
                    "message": b64(b"\x33" * 32),
                    "message_type": "EH_RAW",
                    "digest_mode": "EH_SHA_256",
                    "padding_mode": "EH_PAD_NONE",
                },
            )
        ]
        * 8
        + [("CreateKey", {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY"})]
        + [("PutSecretValue", {"secretName": "soak", "secretData": "rotated"})]
    )
    return lambda i: table[i % len(table)]


def write_mixed(path: Path, c: Client, pick: Pick, count: int, prefix: str) -> Path:
    import time

    now = int(time.time() * 1000)
    with path.open("w") as out:
        for i in range(count):
            action, payload = pick(i)
            timestamp, nonce = str(now + (i % 1000)), f"{prefix}{i}"
            sign = sign_request(c.apikey, c.appid, timestamp, payload, nonce)
            body = _encode({"appid": c.appid, "timestamp": timestamp, "nonce": nonce, "payload": payload, "sign": sign})
            out.write(f"POST\t/ehsm?Action={action}\tContent-Type:application/json\t{body.decode()}\n")
    return path


class Streams:
    """Signed streams, the next one prepared in a thread while the current one is replayed."""

    def __init__(self, workdir: Path, c: Client, pick: Pick) -> None:
        self._dir, self._c, self._pick, self._n = workdir, c, pick, 0
        self._next: tuple[threading.Thread, Path] | None = None

    def _start(self, count: int) -> tuple[threading.Thread, Path]:
        self._n += 1
        path = self._dir / f"soak-{self._n}.txt"
        t = threading.Thread(target=write_mixed, args=(path, self._c, self._pick, count, f"m{self._n}-"))
        t.start()
        return t, path

    def take(self, count: int, then: int) -> Path:
        """A stream of ``count`` requests (the one prepared, if any), and start preparing ``then`` more."""
        thread, path = self._next or self._start(count)
        thread.join()
        self._next = self._start(then) if then else None
        return path


@contextlib.contextmanager
def soak_server(pg: str | None) -> Iterator[keycount.Node]:
    with (
        tempfile.TemporaryDirectory(prefix="pyehsm-soak-audit-") as audit,
        keycount.server(pg or "", ["--audit-log", f"{audit}/audit.log"]) as node,
    ):
        yield node


def run(wrk: str, minutes: int, settle: int, fraction: float, probe: float, pg: str | None) -> list[Minute]:
    rows: list[Minute] = []
    with soak_server(pg) as node, tempfile.TemporaryDirectory(prefix="pyehsm-soak-", dir=keycount.STREAM_DIR) as tmp:
        workdir = Path(tmp)
        paced = workdir / "paced.lua"
        paced.write_text((procs.BENCH_DIR / "replay.lua").read_text() + PACED_LUA)
        c = Client.enroll(f"{node.root_url}/ehsm")
        streams = Streams(workdir, c, mix(c))
        full = run_one(wrk, node, streams.take(int(40_000 * probe), 0), probe, None, 0.0)
        target = full.rps * fraction
        delay_ms = max(0.0, CONNECTIONS * 1000 / target - full.p50_ms)
        print(f"maximum {full.rps:,.0f} req/s (p50 {full.p50_ms:.2f} ms); target {target:,.0f} req/s", flush=True)
        # a minute's stream covers the maximum rate: until the pause has settled the paced load can run above
        # the target, and a stream that ran out would wrap around into replays (refused)
        per_minute = int(max(target * 1.3, full.rps * 1.1) * 60)
        stream = streams.take(per_minute, per_minute)
        for minute in range(1, minutes + 1):
            run = run_one(wrk, node, stream, 60, paced, delay_ms)
            stream.unlink()
            stream = streams.take(per_minute, per_minute if minute < minutes else 0)
            if run.rps:  # every minute, the pause that gives the target at this minute's latency
                delay_ms = max(0.0, (delay_ms + run.p50_ms) * run.rps / target - run.p50_ms)
            rows.append(snapshot(node, minute, run))
            print_minute(rows[-1])
        stream.unlink()
    return rows


def run_one(
    wrk: str, node: keycount.Node, stream: Path, seconds: float, script: Path | None, delay_ms: float
) -> load.WrkRun:
    check = load.EnvelopeCheck(node.root_url)
    run = _wrk(wrk, node.root_url, stream, seconds, script, delay_ms)
    run.errors += check.failures(run)
    return run


def _wrk(wrk: str, url: str, stream: Path, seconds: float, script: Path | None, delay_ms: float) -> load.WrkRun:
    import json
    import subprocess

    cmd = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{int(seconds)}s", "--timeout", "10s",
           "-s", str(script or procs.BENCH_DIR / "replay.lua"), url, "--", str(stream), str(THREADS),
           f"{delay_ms:.3f}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    data = json.loads(next(x for x in reversed(out.splitlines()) if x.startswith("{")))
    return load.WrkRun(int(data["requests"]), data["duration_us"] / 1e6, data["p50_us"] / 1000,
                       data["p99_us"] / 1000, int(data["http_errors"]) + int(data["socket_errors"]),
                       data["exhausted"] == "true")  # fmt: skip


def snapshot(node: keycount.Node, minute: int, run: load.WrkRun) -> Minute:
    pids = nodeinfo.workers(node.pid)
    memory = [nodeinfo.memory_mib(p) for p in pids]
    capacity = nodeinfo.metric(node.root_url, "pyehsm_replay_capacity_entries")
    entries = nodeinfo.metric(node.root_url, "pyehsm_replay_guard_entries")
    return Minute(
        minute=minute,
        rps=run.rps,
        p99_ms=run.p99_ms,
        errors=run.errors + (1 if run.exhausted else 0),
        rss_anon_mib=[m.get("RssAnon", 0.0) for m in memory],
        rss_mib=[m.get("VmRSS", 0.0) for m in memory],
        fds=[nodeinfo.open_fds(p) for p in pids],
        replay_fill=entries / capacity if capacity else 0.0,
        db_mib=keycount.db_bytes(node) / 2**20,
    )


def print_minute(m: Minute) -> None:
    rss = ", ".join(f"{a:.0f} ({t:.0f})" for a, t in zip(m.rss_anon_mib, m.rss_mib, strict=True))
    print(f"minute {m.minute:>3} | {m.rps:>8,.0f} req/s | p99 {m.p99_ms:6.2f} ms | errors {m.errors} | "
          f"RSS anon (total) MiB {rss} | fds {m.fds} | replay fill {m.replay_fill:.1%} | "
          f"DB {m.db_mib:.1f} MiB", flush=True)  # fmt: skip


def verdict(rows: list[Minute], settle: int) -> list[str]:
    if len(rows) < settle:
        return [f"fewer than {settle} minutes: no trend verdict"]
    base, later = rows[settle - 1], rows[settle - 1 :]
    rss = max(max(m.rss_anon_mib) for m in later)
    p99 = max(m.p99_ms for m in later)
    checks = {
        f"RssAnon max {rss:.0f} MiB within 10 % of minute {settle}'s {max(base.rss_anon_mib):.0f}": rss
        <= 1.1 * max(base.rss_anon_mib),
        f"p99 max {p99:.2f} ms within 1.5x of minute {settle}'s {base.p99_ms:.2f}": p99 <= 1.5 * base.p99_ms,
        f"errors {sum(m.errors for m in rows)}": all(m.errors == 0 for m in rows),
    }
    return [f"{text}: {'met' if ok else 'UNMET'}" for text, ok in checks.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--settle", type=int, default=5, help="the minute trends are measured from")
    parser.add_argument("--load", type=float, default=0.7, help="fraction of the measured maximum")
    parser.add_argument("--probe", type=float, default=10.0, help="seconds of the maximum-rate measurement")
    parser.add_argument("--pg", default=None, help="a PostgreSQL database URL (default: SQLite)")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk") or sys.exit("wrk is required: apt-get install wrk")
    rows = run(wrk, args.minutes, args.settle, args.load, args.probe, args.pg)
    lines = verdict(rows, args.settle)
    print("\n".join(lines))
    return 0 if all(line.endswith(": met") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
