"""Key versions on two nodes sharing one PostgreSQL (docs/key-rotation.md): a rotation made on one node is used
by the other at once, every version's ciphertexts decrypt on both, and the automatic-rotation job running on
both nodes at the same moment (one injected ManualClock) adds exactly one version to each due key.

The nodes read key rows uncached (cache_ttl_ms=0): how fast a cached row on the other node follows a change
(NOTIFY) is test_multinode.py's subject; here every request sees the committed primary version."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from pyehsm.client import Client
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.protocols.ehsm.errors import VERSION_RETIRED
from tests.support.postgres import fresh_database
from tests.support.server import InProcessServer, in_process_server


def start_job_pass(node: InProcessServer) -> Future[int]:
    """Start one pass of the node's rotation job on its own loop (what its periodic task does); do not wait."""
    runtime = node.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-key-rotation")
    assert not task.done()
    return asyncio.run_coroutine_threadsafe(runtime.services.rotation.rotate_due_once(), task.get_loop())


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[InProcessServer, InProcessServer, ManualClock]]:
    root = tmp_path / "root.key"
    fd = os.open(root, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    clock = ManualClock()
    with fresh_database() as url:
        settings = [
            Settings(data_dir=tmp_path / name, store=url, root_key=f"file:{root}", pool_depth={}, cache_ttl_ms=0)
            for name in ("a", "b")
        ]
        with in_process_server(settings[0], clock) as a, in_process_server(settings[1], clock) as b:
            yield a, b, clock


def test_versions_made_on_one_node_decrypt_on_the_other(
    two_nodes: tuple[InProcessServer, InProcessServer, ManualClock],
) -> None:
    a, b, clock = two_nodes
    with Client.enroll(a.base, clock=clock) as on_a:
        on_b = Client(b.base, on_a.appid, on_a.apikey, clock=clock)
        keyid = on_a.create_key("EH_AES_GCM_256")
        made = [on_a.encrypt(keyid, b"v1")]
        for n in range(2, 5):
            rotated = (on_a if n % 2 else on_b).rotate_key(keyid)
            assert rotated.version == n
            made.append(on_b.encrypt(keyid, f"v{n}".encode()))  # node B encrypts under the new primary at once
        assert [ct[2:6] for ct in made] == [bytes([0, 0, 0, n]) for n in range(1, 5)]
        for node in (on_a, on_b):
            assert [node.decrypt(keyid, ct) for ct in made] == [b"v1", b"v2", b"v3", b"v4"]
        on_a.update_key_version_policy(keyid, 3)
        retired = on_b.request("Decrypt", {"keyid": keyid, "ciphertext": base64.b64encode(made[1]).decode()})
        assert retired.message == VERSION_RETIRED
        on_b.update_key_version_policy(keyid, 1)
        assert on_a.decrypt(keyid, made[0]) == b"v1"
        moved = on_b.reencrypt(keyid, made[0])
        assert moved.key_version == 4 and on_a.decrypt(keyid, moved.ciphertext) == b"v1"
        on_b.close()


def test_the_rotation_job_on_two_nodes_rotates_each_due_key_exactly_once(
    two_nodes: tuple[InProcessServer, InProcessServer, ManualClock],
) -> None:
    a, b, clock = two_nodes
    with Client.enroll(a.base, clock=clock) as c:
        due = [c.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR", "EH_AES_GCM_128") * 3]
        idle = c.create_key("EH_AES_GCM_256")
        old = {keyid: c.encrypt(keyid, b"before") for keyid in due}
        for keyid in due:
            c.update_key_rotation(keyid, 90)
        for _ in range(2):  # two periods: each pass on both nodes at once
            clock.advance(days=90)
            passes = [start_job_pass(a), start_job_pass(b)]
            assert sum(p.result(timeout=60) for p in passes) == len(due)
            assert start_job_pass(a).result(timeout=60) == start_job_pass(b).result(timeout=60) == 0
        on_b = Client(b.base, c.appid, c.apikey, clock=clock)
        for keyid in due:
            listed = on_b.list_key_rotations(keyid)
            assert [(v.version, v.rotation_type) for v in listed.versions] == [
                (1, "Created"),
                (2, "Automatic"),
                (3, "Automatic"),
            ]
            assert on_b.decrypt(keyid, old[keyid]) == b"before"
            assert on_b.encrypt(keyid, b"x")[2:6] == b"\x00\x00\x00\x03"
        assert len(on_b.list_key_rotations(idle).versions) == 1
        on_b.close()
