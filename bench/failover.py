"""PostgreSQL failover under load: how long the nodes cannot serve, and what they lose (nothing acknowledged).

    .venv/bin/python -m bench.failover [--before 5] [--after 10] [--clients 4]

A primary and a synchronous standby (tests/support/postgres.py ReplicatedPair, scripts/pg-test-cluster.sh
start-replicated), two pyehsm nodes (1 worker each) on the multi-host URL
``postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/db?target_session_attrs=read-write``. ``--clients``
threads per node run CreateKey + Encrypt in a loop; after ``--before`` seconds the primary is killed
(immediate shutdown) and the standby promoted at once; ``--after`` seconds later the load stops. Reported
per node: requests acknowledged and failed, the unavailability window (from the kill to the first success
after it), and that every acknowledged key is listed and decrypts afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.postgres import ReplicatedPair
from tests.support.server import NO_POOL_ARGS, ServerProcess

from pyehsm.client import Client
from pyehsm.client.base import RetryPolicy


@dataclass
class NodeLoad:
    successes: list[float] = field(default_factory=list)  # monotonic time of each acknowledged request
    failures: list[float] = field(default_factory=list)
    keys: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(c: Client, out: NodeLoad, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            keyid = c.create_key("EH_AES_GCM_256")
            ciphertext = c.encrypt(keyid, keyid.encode())
        except Exception:
            with out.lock:
                out.failures.append(time.monotonic())
            time.sleep(0.01)
            continue
        with out.lock:
            out.successes.append(time.monotonic())
            out.keys[keyid] = ciphertext


def run(before: float, after: float, clients: int) -> int:
    pair = ReplicatedPair.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pyehsm-bench-failover-") as tmp:
            root = Path(tmp) / "root.key"
            root.write_bytes(os.urandom(32))
            root.chmod(0o600)
            url = pair.create_database()
            args = ("--store", url, "--root-key", f"file:{root}", *NO_POOL_ARGS)
            nodes = [ServerProcess(Path(tmp) / f"node{i}", *args).start() for i in range(2)]
            try:
                return measure(pair, nodes, before, after, clients)
            finally:
                for node in nodes:
                    node.stop()
    finally:
        pair.stop()


def measure(pair: ReplicatedPair, nodes: list[ServerProcess], before: float, after: float, clients: int) -> int:
    enrolled = nodes[0].client()
    loads = [NodeLoad() for _ in nodes]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=drive,
            args=(
                Client(n.base, enrolled.appid, enrolled.apikey, retry=RetryPolicy(retries=0), timeout=10),
                loads[i],
                stop,
            ),
        )
        for i, n in enumerate(nodes)
        for _ in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(before)
    killed = time.monotonic()
    pair.fail_over()
    promoted = time.monotonic()
    time.sleep(after)
    stop.set()
    for t in threads:
        t.join()
    lost = 0
    print(f"kill -> promoted: {promoted - killed:.2f} s")
    print("node  acknowledged  failed  window: longest time without a success around the failover (s)  lost")
    for i, (node, out) in enumerate(zip(nodes, loads, strict=True)):
        c = Client(node.base, enrolled.appid, enrolled.apikey)
        listed = {k.keyid for k in c.list_key()}
        missing = [k for k in out.keys if k not in listed]
        wrong = [k for k, ct in out.keys.items() if k in listed and c.decrypt(k, ct) != k.encode()]
        lost += len(missing) + len(wrong)
        print(f"{i}     {len(out.successes):<12}  {len(out.failures):<6}  {window(out.successes, killed):<63.2f}  "
              f"{len(missing) + len(wrong)}")  # fmt: skip
    return 0 if lost == 0 else 1


def window(successes: list[float], killed: float) -> float:
    """The longest gap between two successes that ends after the kill (the node's unavailability)."""
    times = sorted(successes)
    gaps = [b - a for a, b in itertools.pairwise(times) if b >= killed]
    return max(gaps, default=float("nan"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after the promotion")
    parser.add_argument("--clients", type=int, default=4, help="client threads per node")
    args = parser.parse_args(argv)
    return run(args.before, args.after, args.clients)


if __name__ == "__main__":
    sys.exit(main())
