"""One wrk run: the command, the figures bench/replay.lua prints, and the check that every answer succeeded.

wrk runs without a Lua ``response()`` callback. With one, wrk hands every response's headers and body
to Lua, whose collector then stalls wrk's threads for 30-100 ms now and then (each thread's heap holds
its slice of the request stream, and unique strings per response, such as a ciphertext or pyehsm's
x-request-id, grow the string table): responses waited unread in wrk's sockets and the p99.9 of the
server under test read 57-78 ms where the server itself answered within 14 ms. Success is therefore
counted where it is cheap and exact: HTTP status errors by wrk itself (the bare endpoint, OpenBao and
moto answer a failure with a 4xx/5xx), and eHSM envelope codes, which pyehsm returns with HTTP 200,
by the server's own ``pyehsm_requests_total`` counter (`EnvelopeCheck`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procs

_REQUESTS_SAMPLE = re.compile(r'^pyehsm_requests_total\{[^}]*code="(\d+)"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass
class WrkRun:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors and HTTP status errors, as wrk counts them
    exhausted: bool  # the stream ran out and wrk started over from its first request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_wrk(wrk_path: str, url: str, stream: Path, connections: int, threads: int, seconds: float) -> WrkRun:
    cmd = [wrk_path, f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
           "-s", str(procs.BENCH_DIR / "replay.lua"), url, "--", str(stream), str(threads)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    data = json.loads(next(x for x in reversed(out.splitlines()) if x.startswith("{")))
    return WrkRun(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=int(data["http_errors"]) + int(data["socket_errors"]),
        exhausted=data["exhausted"] == "true",
    )


def envelope_outcomes(root_url: str) -> tuple[int, int]:
    """(successes, failures) a pyehsm server has answered so far: its requests counter, every worker summed."""
    return outcomes_in(httpx.get(f"{root_url.removesuffix('/ehsm')}/metrics", timeout=30).text)


def outcomes_in(text: str) -> tuple[int, int]:
    """(successes, failures) in a /metrics text: ``pyehsm_requests_total`` samples by envelope code."""
    ok = failed = 0
    for code, value in _REQUESTS_SAMPLE.findall(text):
        if code == "200":
            ok += int(float(value))
        else:
            failed += int(float(value))
    return ok, failed


READS = 5


class EnvelopeCheck:
    """Counts the envelope failures of one run against a pyehsm server: every request the server answered
    with a code other than 200, and every response wrk counted that the server counted neither as a
    success nor as a failure (a counter that missed requests must not pass for a clean run)."""

    def __init__(self, root_url: str) -> None:
        self._url = root_url
        self._before = envelope_outcomes(root_url)

    def failures(self, run: WrkRun) -> int:
        # Workers flush their counts into the shared metrics within MULTIPROC_FLUSH_SECONDS: a shortfall
        # is read again a few times before it counts
        for _ in range(READS):
            found = failures_between(self._before, envelope_outcomes(self._url), run.requests)
            if found == 0:
                break
            time.sleep(0.1)
        return found


def failures_between(before: tuple[int, int], after: tuple[int, int], responses: int) -> int:
    """The failures of a run that saw ``responses``, from the server's (successes, failures) around it."""
    ok_delta, failed_delta = after[0] - before[0], after[1] - before[1]
    return failed_delta + max(0, responses - ok_delta - failed_delta)


def checked_wrk(
    wrk_path: str, url: str, stream: Path, connections: int, threads: int, seconds: float, pyehsm: bool
) -> WrkRun:
    """``run_wrk``, with the envelope codes checked on the server when it is a pyehsm server."""
    check = EnvelopeCheck(url) if pyehsm else None
    run = run_wrk(wrk_path, url, stream, connections, threads, seconds)
    if check is not None:
        run.errors += check.failures(run)
    return run
