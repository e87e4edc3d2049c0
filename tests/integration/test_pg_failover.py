"""PostgreSQL failover without loss: two pyehsm nodes on a primary with a synchronous standby, named together
in one multi-host URL (``target_session_attrs=read-write``). Under load the primary is killed and the
standby promoted; the nodes must find the new primary by themselves, nothing acknowledged may be lost
(CreateKey, ImportKeyMaterial, PutSecretValue), every acknowledged ciphertext must still decrypt, and a
request accepted before the failover must be refused when replayed after it (the replay table lives in the
database and commits synchronously). No timing assertion: waits poll with generous timeouts."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from pyehsm.client import Client
from pyehsm.client.base import RetryPolicy
from pyehsm.protocols.ehsm.endpoint import REPLAYED
from pyehsm.protocols.ehsm.signing import sign_request
from tests.support.postgres import ReplicatedPair
from tests.support.server import NO_POOL_ARGS, ServerProcess

WAIT_S = 120.0  # generous: the machine may be busy; nothing here measures time


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicatedPair]:
    replicated = ReplicatedPair.start()
    try:
        yield replicated
    finally:
        replicated.stop()


@dataclass
class Acknowledged:
    """What the servers confirmed: keys (and a ciphertext made with each), imported keys, secret values."""

    keys: dict[str, bytes] = field(default_factory=dict)  # keyid -> ciphertext of its keyid
    imported: dict[str, bytes] = field(default_factory=dict)  # keyid -> the material imported
    secrets: dict[str, str] = field(default_factory=dict)  # name -> latest acknowledged value
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def import_key(c: Client) -> tuple[str, bytes]:
    keyid = c.create_key("EH_AES_GCM_256", origin="EH_EXTERNAL_KEY")
    params = c.get_parameters_for_import(keyid, "EH_RSA_3072")
    material = os.urandom(32)
    public = serialization.load_pem_public_key(params.pubkey.encode())
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    c.import_key_material(keyid, public.encrypt(material, oaep), params.import_token, "EH_RSA_PKCS1_OAEP")  # type: ignore[union-attr]
    return keyid, material


def work(c: Client, n: int, acked: Acknowledged) -> None:
    """One operation of the load; it counts as acknowledged only once the server answered success."""
    kind = n % 3
    if kind == 0:
        keyid = c.create_key("EH_AES_GCM_256")
        ciphertext = c.encrypt(keyid, keyid.encode())
        with acked.lock:
            acked.keys[keyid] = ciphertext
    elif kind == 1:
        keyid, material = import_key(c)
        with acked.lock:
            acked.imported[keyid] = material
    else:
        name, value = f"s{n % 7}", f"value-{n}"
        with acked.lock:  # one writer per name at a time: "latest acknowledged" is well defined
            if name in acked.secrets:
                c.put_secret_value(name, value)
            else:
                c.create_secret(name, value)
            acked.secrets[name] = value


def load(clients: list[Client], acked: Acknowledged, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        try:
            work(clients[n % len(clients)], n, acked)
        except Exception:  # the database is away: not acknowledged, nothing to check
            acked.failures += 1
            time.sleep(0.05)
        n += 1


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def signed_encrypt_body(c: Client, keyid: str, nonce: str) -> bytes:
    timestamp = str(int(time.time() * 1000))
    payload = {"keyid": keyid, "plaintext": base64.b64encode(b"replayed").decode()}
    sign = sign_request(c.apikey, c.appid, timestamp, payload, nonce)
    return msgspec.json.encode(
        {"appid": c.appid, "timestamp": timestamp, "nonce": nonce, "payload": payload, "sign": sign}
    )


def post_encrypt(node: ServerProcess, body: bytes) -> dict[str, object]:
    response = httpx.post(f"{node.base}?Action=Encrypt", content=body, headers={"Content-Type": "application/json"})
    answer: dict[str, object] = response.json()
    return answer


def test_failover_to_the_synchronous_standby_loses_nothing(pair: ReplicatedPair, tmp_path: Path) -> None:
    assert pair.sync_state() == [("pyehsm_standby", "sync")]
    url = pair.create_database()
    root_key = tmp_path / "root.key"
    root_key.write_bytes(os.urandom(32))
    root_key.chmod(0o600)
    args = ("--store", url, "--root-key", f"file:{root_key}", *NO_POOL_ARGS)
    nodes = [ServerProcess(tmp_path / f"node{i}", *args).start() for i in range(2)]
    try:
        enrolled = nodes[0].client()
        retry = RetryPolicy(retries=0)
        clients = [Client(node.base, enrolled.appid, enrolled.apikey, retry=retry, timeout=10) for node in nodes]
        keyid = clients[0].create_key("EH_AES_GCM_256")
        before = signed_encrypt_body(clients[0], keyid, "before-failover")
        assert post_encrypt(nodes[0], before)["code"] == 200
        acked, stop = Acknowledged(), threading.Event()
        loader = threading.Thread(target=load, args=(clients, acked, stop), daemon=True)
        loader.start()
        wait_for("some acknowledged work", lambda: len(acked.keys) >= 3 and len(acked.imported) >= 3)
        pair.fail_over()  # under load: kill -9 of the primary (immediate shutdown), then promote
        failures_at_failover = acked.failures
        for node in nodes:  # each node serves again by itself (no restart): poll until it does
            wait_for(
                f"node {node.port} to serve again",
                lambda node=node: (
                    Client(node.base, enrolled.appid, enrolled.apikey, retry=retry).encrypt(keyid, b"x") is not None
                ),
            )  # type: ignore[misc]
        done = len(acked.keys) + len(acked.imported)
        wait_for("acknowledged work after the failover", lambda: len(acked.keys) + len(acked.imported) >= done + 6)
        stop.set()
        loader.join(timeout=WAIT_S)
        # nothing acknowledged is lost; every key decrypts on both nodes
        for c in clients:
            listed = {k.keyid for k in c.list_key()}
            assert set(acked.keys) <= listed and set(acked.imported) <= listed
            for k, ciphertext in acked.keys.items():
                assert c.decrypt(k, ciphertext) == k.encode()
            for k in acked.imported:
                assert c.decrypt(k, c.encrypt(k, b"imported")) == b"imported"
                assert c.describe_key(k).state == "Enabled"
            for name, value in acked.secrets.items():
                assert c.get_secret_value(name).secret_data == value
        # the replay guard's entries survived the failover: the request accepted before it is refused now
        for node in nodes:
            answer = post_encrypt(node, before)
            assert answer["code"] != 200 and answer["message"] == REPLAYED
        assert acked.failures >= failures_at_failover  # (reported by the bench: bench/failover.py)
    finally:
        for node in nodes:
            node.stop()
