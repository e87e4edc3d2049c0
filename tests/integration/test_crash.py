"""kill -9 a node in the middle of a stream of writes; after a restart every acknowledged write is there.

Several client threads write at once (CreateKey, Encrypt, PutSecretValue) until the node is killed
under them; a write counts as acknowledged only when its answer arrived. The restarted node must list
every acknowledged key, decrypt every acknowledged ciphertext to its plaintext and return every
acknowledged secret version. Writes in flight at the kill may or may not have landed: both are fine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyehsm.client import Client, EhsmConnectionError, RetryPolicy
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL, ServerProcess

WRITERS = 4
ACKED_KEYS_BEFORE_KILL = 24


@dataclass
class Acked:
    keys: list[str] = field(default_factory=list)
    ciphertexts: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # keyid, plaintext, blob
    secrets: dict[str, list[str]] = field(default_factory=dict)  # appid -> value of version 1, 2, ...
    owner: dict[str, str] = field(default_factory=dict)  # keyid -> appid
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(base: str, appid: str, apikey: str, index: int, acked: Acked, ended: list[BaseException]) -> None:
    client = Client(base, appid, apikey, retry=RetryPolicy(retries=0), timeout=10)
    name = f"secret-{index}"
    try:
        client.create_secret(name, "v1")
        with acked.lock:
            acked.secrets[appid] = ["v1"]
        n = 0
        while True:
            n += 1
            keyid = client.create_key("EH_AES_GCM_256")
            with acked.lock:
                acked.keys.append(keyid)
                acked.owner[keyid] = appid
            plaintext = os.urandom(24)
            blob = client.encrypt(keyid, plaintext, aad=keyid.encode())
            with acked.lock:
                acked.ciphertexts.append((keyid, plaintext, blob))
            value = f"v{len(acked.secrets[appid]) + 1}-{n}"
            client.put_secret_value(name, value)
            with acked.lock:
                acked.secrets[appid].append(value)
    except BaseException as exc:  # the kill ends every writer with a connection error
        ended.append(exc)
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def node_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ...]]:
    if request.param == "sqlite":
        yield ()
        return
    with fresh_database() as url:
        yield ("--store", url)


def test_acknowledged_writes_survive_kill_9(node_args: tuple[str, ...], tmp_path: Path) -> None:
    env = {"PYEHSM_POOL_DEPTH": NO_POOL}
    node = ServerProcess(tmp_path / "data", *node_args, env=env).start()
    restarted = ServerProcess(tmp_path / "data", *node_args, env=env)
    try:
        apps = []
        for _ in range(WRITERS):  # one app per writer: two identical requests in one millisecond would be replays
            with node.client() as owner:
                apps.append((owner.appid, owner.apikey))
        acked, ended = Acked(), []
        threads = [
            threading.Thread(target=writer, args=(node.base, appid, apikey, i, acked, ended))
            for i, (appid, apikey) in enumerate(apps)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acked.keys) < ACKED_KEYS_BEFORE_KILL:
            assert not ended, ended
            assert time.monotonic() < deadline, "the writers made no progress"
            time.sleep(0.01)
        node.kill()  # SIGKILL while the writers are mid-stream
        for thread in threads:
            thread.join(timeout=30)
        assert len(ended) == WRITERS and all(isinstance(e, EhsmConnectionError) for e in ended), ended

        restarted.start()
        listed: set[str] = set()
        for index, (appid, apikey) in enumerate(apps):
            with Client(restarted.base, appid, apikey) as client:
                listed |= {k["keyid"] for k in client.list_keys()}
                values = acked.secrets[appid]
                versions = {v.version_id for v in client.list_secret_version_ids(f"secret-{index}").versions}
                assert set(range(1, len(values) + 1)) <= versions
                for number, value in enumerate(values, start=1):
                    assert client.get_secret_value(f"secret-{index}", number).secret_data == value
                for keyid, plaintext, blob in acked.ciphertexts:
                    if acked.owner[keyid] == appid:
                        assert client.decrypt(keyid, blob, aad=keyid.encode()) == plaintext
                keyid = client.create_key("EH_SM4_CBC")  # and the node writes again
                assert client.decrypt(keyid, client.encrypt(keyid, b"after")) == b"after"
        assert set(acked.keys) <= listed
        assert {keyid for keyid, _, _ in acked.ciphertexts} <= listed
    finally:
        node.kill()
        restarted.stop()
