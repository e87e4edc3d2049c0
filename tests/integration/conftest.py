"""The `store` fixture: every test that takes it runs once per Store implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pyehsm.clock import ManualClock
from pyehsm.store.base import Store
from pyehsm.store.cache import RowCache
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.sqlite import SqliteStore
from tests.integration.stores import KINDS, T0, empty_tables
from tests.support.postgres import fresh_database


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """One database per test module; each test starts from empty tables (see ``store``)."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        lite = SqliteStore(tmp_path / "contract.db")
        await lite.open()
        yield lite
        await lite.close()
        return
    url = request.getfixturevalue("pg_url")
    empty_tables(url)
    cache = RowCache(ManualClock(T0)) if request.param == "postgres+cache" else None
    pg: Store = PostgresStore(url, max_size=4, cache=cache)
    await pg.open()
    try:
        yield pg
    finally:
        await pg.close()
