"""Replay protection survives a crash of its store (docs/operations.md, "Replay protection: the rule and
its cost"): a request accepted before the crash is refused after it.

PostgreSQL: a private cluster (scripts/pg-test-cluster.sh start-private) that the test crashes with an
immediate shutdown and starts again on the same data directory. The cluster runs with
``synchronous_commit = off`` and a 10-second WAL writer delay, the configuration under which a commit
that did not force its WAL flush is lost by the crash.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyehsm.store.postgres import PostgresReplayGuard, PostgresStore
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.slow

RETENTION_MS = 20 * 60 * 1000


@pytest.fixture
def crashable() -> Iterator[PostgresServer]:
    server = PostgresServer.start_private("synchronous_commit=off", "wal_writer_delay=10000")
    try:
        yield server
    finally:
        server.stop()


async def _remember(url: str, appid: str, sign: str, now_ms: int) -> bool:
    store = PostgresStore(url, max_size=1)
    await store.open()
    try:
        return await PostgresReplayGuard(store, RETENTION_MS).remember(appid, sign, now_ms, now_ms)
    finally:
        await store.close()


async def test_a_request_accepted_before_a_postgres_crash_is_refused_after_it(crashable: PostgresServer) -> None:
    url = crashable.url
    now = 1_700_000_000_000
    assert await _remember(url, "app", "sign-before-crash", now) is True
    crashable.crash()
    crashable.restart()
    # an UNLOGGED table is emptied by crash recovery; an asynchronous commit is lost with the WAL buffers
    assert await _remember(url, "app", "sign-before-crash", now + 1000) is False
    assert await _remember(url, "app", "a-new-request", now + 1000) is True


async def test_the_replay_table_is_logged(crashable: PostgresServer) -> None:
    store = PostgresStore(crashable.url, max_size=1)
    await store.open()
    try:
        row = await store.query_one("SELECT relpersistence FROM pg_class WHERE oid = to_regclass('replay')", ())
    finally:
        await store.close()
    assert row == ("p",)
