"""The scheduled-deletion job on two nodes sharing one PostgreSQL database, each with its own injectable clock:
a due key is deleted exactly once whichever node (or both at once) runs the job, and the other node refuses the
key as soon as its deletion is scheduled (docs/key-metadata.md)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyehsm.client import Client, EhsmApiError
from pyehsm.clock import DAY_MS, ManualClock
from pyehsm.config import DEFAULT_POOL_DEPTH, Settings
from tests.support.postgres import fresh_database
from tests.support.server import InProcessServer, in_process_server

PENDING = "keyid is pending deletion: cancel the deletion (CancelKeyDeletion) to use it again"


def run_job(node: InProcessServer) -> asyncio.Future[int]:
    """Start one pass of the node's deletion job on the node's own event loop."""
    runtime = node.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-key-deletion")
    return asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(runtime.services.key_metadata.purge_once(), task.get_loop())
    )


async def refused_eventually(client: Client, keyid: str) -> str:
    """The message node b refuses Encrypt with, once the change reached it (a liveness wait, up to 30 s)."""
    for _ in range(300):
        try:
            client.encrypt(keyid, b"x")
        except EhsmApiError as exc:
            return exc.message
        await asyncio.sleep(0.1)
    raise AssertionError("node b never refused the key")


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[InProcessServer, InProcessServer, ManualClock, ManualClock]]:
    root = tmp_path / "root.key"
    fd = os.open(root, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    start = ManualClock().now_ms()
    clock_a, clock_b = ManualClock(start), ManualClock(start)
    no_pool = {name: 0 for name in DEFAULT_POOL_DEPTH}
    with fresh_database() as url:

        def settings(name: str) -> Settings:
            return Settings(data_dir=tmp_path / name, store=url, root_key=f"file:{root}", pool_depth=dict(no_pool))

        with in_process_server(settings("a"), clock_a) as a, in_process_server(settings("b"), clock_b) as b:
            yield a, b, clock_a, clock_b


async def test_each_due_key_is_deleted_exactly_once_by_two_nodes(
    nodes: tuple[InProcessServer, InProcessServer, ManualClock, ManualClock],
) -> None:
    a, b, clock_a, clock_b = nodes
    with Client.enroll(a.base, clock=clock_a) as ca:
        cb = Client(b.base, ca.appid, ca.apikey, clock=clock_b)
        due = [ca.create_key("EH_AES_GCM_256") for _ in range(6)]
        later, kept = ca.create_key("EH_AES_GCM_256"), ca.create_key("EH_AES_GCM_256")
        ca.create_alias("alias/due", due[0])
        for keyid in due:
            cb.encrypt(keyid, b"warm node b's cache")
            ca.schedule_key_deletion(keyid, 7)
        ca.schedule_key_deletion(later, 8)
        for keyid in due:  # node b hears of it through NOTIFY (asynchronously) and then refuses the key
            assert await refused_eventually(cb, keyid) == PENDING
        for clock in (clock_a, clock_b):
            clock.advance(ms=7 * DAY_MS - 1)
        assert await asyncio.gather(run_job(a), run_job(b)) == [0, 0]  # not due yet
        for clock in (clock_a, clock_b):
            clock.advance(ms=1)
        counts = await asyncio.gather(run_job(a), run_job(b), run_job(a), run_job(b))
        assert sum(counts) == len(due)  # each due key deleted exactly once between the two nodes
        assert await asyncio.gather(run_job(a), run_job(b)) == [0, 0]
        remaining = {k.keyid: k.state for k in cb.list_key()}
        assert remaining == {later: "PendingDeletion", kept: "Enabled"}
        assert ca.list_aliases().aliases == []
        for keyid in due:
            with pytest.raises(EhsmApiError) as gone:
                cb.describe_key(keyid)
            assert gone.value.message == "keyid error"
        for clock in (clock_a, clock_b):
            clock.advance(days=1)
        assert sum(await asyncio.gather(run_job(b), run_job(a))) == 1
        assert [k.keyid for k in ca.list_key()] == [kept]
        cb.close()
