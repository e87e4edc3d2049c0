"""pyehsm against an earlier pyehsm, side by side in one run: ``python -m bench.ab --baseline DIR``.

DIR is another source tree of pyehsm (for example ``git worktree add /tmp/pyehsm-base <commit>``, with its
C extension built in place: ``python setup.py build_ext --inplace`` in DIR). Both servers run from this
venv, the baseline with ``PYTHONPATH=DIR/src``, on fresh data dirs with the same options as the main
bench's pyehsm (2 workers, audit log on, no key-pair pool). Each action is measured in interleaved rounds
(the order rotating every round) and reported as the median of the per-round ratios current/baseline:
a refactoring that keeps the speed shows ratios inside the run-to-run spread (about 0.9-1.1 on a shared
2-core VM).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import procs
from bench.__main__ import ensure_wrk
from bench.scenarios import MESSAGE_32, NO_POOL, PLAINTEXT_32, BenchEnv, Contender, Series, paired_ratio
from bench.streams import b64
from pyehsm.client import Client

Payload = Callable[[Client], Callable[[int], dict[str, Any]]]


def _encrypt(c: Client) -> Callable[[int], dict[str, Any]]:
    keyid = c.create_key("EH_AES_GCM_256")
    return lambda _: {"keyid": keyid, "plaintext": PLAINTEXT_32}


def _decrypt(c: Client) -> Callable[[int], dict[str, Any]]:
    keyid = c.create_key("EH_AES_GCM_256")
    ciphertext = b64(c.encrypt(keyid, b"\x5a" * 32))
    return lambda _: {"keyid": keyid, "ciphertext": ciphertext}


def _sign_p256(c: Client) -> Callable[[int], dict[str, Any]]:
    keyid = c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    payload = {"keyid": keyid, "message": MESSAGE_32, "message_type": "EH_RAW", "digest_mode": "EH_SHA_256"}
    return lambda _: {**payload, "padding_mode": "EH_PAD_NONE"}


ACTIONS: dict[str, tuple[str, Payload]] = {
    "encrypt": ("Encrypt", _encrypt),
    "decrypt": ("Decrypt", _decrypt),
    "sign_p256": ("Sign", _sign_p256),
}


def _server(env: BenchEnv, name: str, extra_env: dict[str, str]) -> Client:
    base = env.shared(name, lambda: procs.pyehsm(workers=2, extra=["--pool-depth", NO_POOL], env=extra_env))
    return env.shared(f"{name}-client", lambda: contextlib.nullcontext(Client.enroll(base)))  # type: ignore[no-any-return]


def compare(env: BenchEnv, baseline: Path, action: str) -> dict[str, Series]:
    wire_action, payload = ACTIONS[action]

    def contenders() -> list[Contender]:
        entrants = []
        for name, extra_env in (("current", {}), ("baseline", {"PYTHONPATH": str(baseline / "src")})):
            c = _server(env, name, extra_env)
            url = c.base_url.removesuffix("/ehsm")
            entrants.append(env.signed_contender(name, url, c, wire_action, payload(c)))
        return entrants

    return env.compare(action, contenders)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="source tree of the earlier pyehsm")
    parser.add_argument("--only", action="append", default=[], choices=sorted(ACTIONS))
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    baseline = args.baseline.resolve()
    if not (baseline / "src" / "pyehsm").is_dir():
        parser.error(f"{baseline} is not a pyehsm source tree")
    env = BenchEnv(wrk_path=ensure_wrk(), duration=args.duration, quick=False, rounds=args.rounds)
    print(f"{'action':<10}  {'current req/s':>13}  {'baseline req/s':>14}  {'ratio':>5}  per-round ratios")
    try:
        for action in args.only or list(ACTIONS):
            series = compare(env, baseline, action)
            mine, base = series["current"], series["baseline"]
            per_round = [m.rps / b.rps for m, b in zip(mine.runs, base.runs, strict=True) if b.rps]
            errors = mine.errors + base.errors
            print(
                f"{action:<10}  {mine.rps:>13,.0f}  {base.rps:>14,.0f}  {paired_ratio(mine, base):>5.2f}  "
                + " ".join(f"{r:.2f}" for r in per_round)
                + (f"  ERRORS {errors}" if errors else ""),
                flush=True,
            )
            print(f"{'':<10}  p99 {mine.p99_ms:.2f} ms vs {base.p99_ms:.2f} ms", flush=True)
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
