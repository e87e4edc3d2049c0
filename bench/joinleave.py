"""A node joins and a node leaves under load (issue 26 item 5): what the newcomer answers, what the loss costs.

    .venv/bin/python -m bench.joinleave [--phase 5] [--clients 3]

Two pyehsm nodes (A, B; 1 worker each) on one PostgreSQL database (tests/support/postgres.py: 127.0.0.1:5432
or a private cluster). ``--clients`` threads per node each loop: CreateKey and Encrypt on their node, then
Decrypt of that ciphertext on another live node, so an answer is right only if both nodes agree on the key.
Timeline, ``--phase`` seconds each: A and B; node C starts and its clients begin the moment its /readyz
answers (a load balancer adds it then); B is killed (SIGKILL: no drain, requests on the wire are lost);
A and C. A request refused at connect by the dead B (it never reached a node) is sent to a live node, as a
load balancer does; a request B had accepted and never answered is a failure. Reported: per node the
acknowledged and failed requests and wrong answers; C's start-up (process start to ready) and its first
answer; B's lost requests (at most one in flight per client using B) and the window (the kill to the last
of B's clients served again); and that every acknowledged key is listed and decrypts on A and C afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL_ARGS, ServerProcess

from pyehsm.client import Client
from pyehsm.client.base import NO_RETRY
from pyehsm.client.errors import EhsmConnectionError

NAMES = "ABC"


@dataclass
class Tally:
    """What the clients saw, per node (index into NAMES)."""

    acked: list[int] = field(default_factory=lambda: [0, 0, 0])
    failed: list[int] = field(default_factory=lambda: [0, 0, 0])
    wrong: list[int] = field(default_factory=lambda: [0, 0, 0])
    rerouted: int = 0  # refused at connect by a dead node, sent to a live one
    first_ok: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # monotonic, first success
    served_after_kill: dict[int, float] = field(default_factory=dict)  # client id -> first success after the kill
    keys: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # keyid -> (plaintext, ciphertext)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Cluster:
    nodes: list[ServerProcess]
    clients: list[Client | None]  # per node, shared credentials; None: not serving (not started or killed)
    killed_at: float = 0.0

    def live(self) -> list[int]:
        return [i for i, c in enumerate(self.clients) if c is not None]


def never_sent(exc: EhsmConnectionError) -> bool:
    """The request never reached a node (connection refused): a load balancer sends it elsewhere."""
    return isinstance(exc.__cause__, httpx.ConnectError)


def call(cluster: Cluster, tally: Tally, node: int, fn_name: str, *args: object) -> object:
    client = cluster.clients[node]
    if client is None:
        raise LookupError(node)
    try:
        result = getattr(client, fn_name)(*args)
    except EhsmConnectionError as exc:
        if never_sent(exc):
            with tally.lock:
                tally.rerouted += 1
            raise LookupError(node) from exc
        with tally.lock:
            tally.failed[node] += 1
        raise
    except Exception:
        with tally.lock:
            tally.failed[node] += 1
        raise
    now = time.monotonic()
    with tally.lock:
        tally.acked[node] += 1
        if not tally.first_ok[node]:
            tally.first_ok[node] = now
    return result


def drive(cluster: Cluster, tally: Tally, home: int, me: int, stop: threading.Event) -> None:
    """One client: its node, moved to a live node when its node is gone (the load balancer's job)."""
    while not stop.is_set():
        live = cluster.live()
        if home not in live:
            home = live[me % len(live)]
        peer = next((n for n in live if n != home), home)
        plaintext = os.urandom(16)
        try:
            keyid = str(call(cluster, tally, home, "create_key", "EH_AES_GCM_256"))
            ciphertext = call(cluster, tally, home, "encrypt", keyid, plaintext)
            answer = call(cluster, tally, peer, "decrypt", keyid, ciphertext)
        except LookupError:
            continue  # routed to a node that is gone: the next iteration picks a live one
        except Exception:
            time.sleep(0.01)
            continue
        with tally.lock:
            if answer != plaintext:
                tally.wrong[peer] += 1
            tally.keys[keyid] = (plaintext, bytes(ciphertext))  # type: ignore[call-overload]
            if cluster.killed_at and me not in tally.served_after_kill:
                tally.served_after_kill[me] = time.monotonic()


def start_clients(
    cluster: Cluster, tally: Tally, node: int, count: int, first_id: int, stop: threading.Event
) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=drive, args=(cluster, tally, node, first_id + i, stop), daemon=True)
        for i in range(count)
    ]
    for t in threads:
        t.start()
    return threads


def run(phase: float, clients: int, verify: int) -> int:
    with tempfile.TemporaryDirectory(prefix="pyehsm-bench-joinleave-") as tmp, fresh_database() as url:
        root = Path(tmp) / "root.key"
        root.write_bytes(os.urandom(32))
        root.chmod(0o600)
        args = ("--store", url, "--root-key", f"file:{root}", "--workers", "1", *NO_POOL_ARGS)
        nodes = [ServerProcess(Path(tmp) / f"node{name}", *args) for name in NAMES]
        try:
            return measure(nodes, phase, clients, verify)
        finally:
            for node in nodes:
                node.stop()


def measure(nodes: list[ServerProcess], phase: float, clients: int, verify: int) -> int:
    a, b, c = nodes
    a.start()
    b.start()
    enrolled = a.client()

    def client_of(node: ServerProcess) -> Client:
        return Client(node.base, enrolled.appid, enrolled.apikey, retry=NO_RETRY, timeout=10)

    cluster = Cluster(nodes, [client_of(a), client_of(b), None])
    tally, stop = Tally(), threading.Event()
    threads = start_clients(cluster, tally, 0, clients, 0, stop)
    threads += start_clients(cluster, tally, 1, clients, clients, stop)
    time.sleep(phase)
    join_started = time.monotonic()
    c.start()  # waits for /readyz
    ready = time.monotonic()
    cluster.clients[2] = client_of(c)
    threads += start_clients(cluster, tally, 2, clients, 2 * clients, stop)
    time.sleep(phase)
    acked_before_kill = tally.acked[1]
    b.kill()
    cluster.killed_at = time.monotonic()
    cluster.clients[1] = None
    on_b = set(range(clients, 2 * clients))  # B's own clients (the others may have had a Decrypt on B too)
    time.sleep(phase)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    print(f"node C: process start -> ready {ready - join_started:.2f} s, ready -> first answer "
          f"{tally.first_ok[2] - ready:.3f} s")  # fmt: skip
    return report(cluster, tally, enrolled, acked_before_kill, on_b, len(threads), verify)


def report(
    cluster: Cluster, tally: Tally, enrolled: Client, b_acked: int, on_b: set[int], threads: int, verify: int
) -> int:
    a, _, c = cluster.nodes
    print("node  acknowledged  failed  wrong answers")
    for i, name in enumerate(NAMES):
        print(f"{name}     {tally.acked[i]:<12}  {tally.failed[i]:<6}  {tally.wrong[i]}")
    back = [tally.served_after_kill.get(i) for i in sorted(on_b)]
    window = max((t - cluster.killed_at for t in back if t is not None), default=float("nan"))
    print(f"kill of B: {tally.failed[1]} requests lost in flight (B acknowledged {b_acked} before), "
          f"{tally.rerouted} refused at connect and re-sent; B's {len(on_b)} clients all served again within "
          f"{window:.2f} s" + ("" if all(t is not None for t in back) else " (NOT all served again)"))  # fmt: skip
    lost = 0
    sample = list(tally.keys.items())[:: max(1, len(tally.keys) // verify)] if verify > 0 else []
    for node in (a, c):
        check = Client(node.base, enrolled.appid, enrolled.apikey)
        listed = {k.keyid for k in check.list_key()}
        missing = [k for k in tally.keys if k not in listed]
        wrong = [k for k, (pt, ct) in sample if check.decrypt(k, ct) != pt]
        lost += len(missing) + len(wrong)
    print(f"{len(tally.keys)} acknowledged keys looked up in ListKey on A and on C, {len(sample)} of their "
          f"ciphertexts decrypted on each: {lost} missing or wrong")  # fmt: skip
    # every client thread has at most one request outstanding: B can lose no more than one per thread
    bad = lost + sum(tally.wrong) + tally.failed[0] + tally.failed[2] + (tally.failed[1] > threads)
    return 0 if bad == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.joinleave", description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", type=float, default=5.0, help="seconds of load in each phase")
    parser.add_argument("--clients", type=int, default=3, help="client threads per node")
    parser.add_argument("--verify", type=int, default=500, help="acknowledged ciphertexts decrypted at the end")
    args = parser.parse_args(argv)
    return run(args.phase, args.clients, args.verify)


if __name__ == "__main__":
    sys.exit(main())
