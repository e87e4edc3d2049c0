"""Schema migrations: numbered files, applied once under a lock, recorded, and never run backwards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pyehsm.errors import StartupError
from pyehsm.store.migrations import latest_version, load_migrations
from pyehsm.store.postgres import MIGRATION_LOCK_KEY, PostgresStore
from pyehsm.store.sqlite import SqliteStore
from tests.support.postgres import fresh_database


def pyehsm(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyehsm", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def schema_rows(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def test_postgres_and_sqlite_migrations_are_numbered_alike() -> None:
    pg, lite = load_migrations("postgres"), load_migrations("sqlite")
    assert [m.version for m in pg] == [m.version for m in lite] == list(range(1, latest_version("sqlite") + 1))
    assert [m.name for m in pg] == [m.name for m in lite]


async def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path) -> None:
    lite = SqliteStore(tmp_path / "s.db")
    await lite.open()
    with fresh_database() as url:
        pg = PostgresStore(url, max_size=2)
        await pg.open()
        try:
            pg_tables = {t.name: (set(t.columns), t.parents) for t in await pg.tables()}
        finally:
            await pg.close()
    lite_tables = {t.name: (set(t.columns), t.parents) for t in await lite.tables()}
    await lite.close()
    assert pg_tables == lite_tables  # export/import moves rows by table and column name


def test_nodes_starting_at_once_migrate_exactly_once() -> None:
    with fresh_database() as url:
        # Hold the migration lock so every starter queues on it, then let them all go at once.
        with psycopg.connect(url) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            starters = [pyehsm("migrate", "--store", url) for _ in range(3)]
            deadline = time.monotonic() + 30
            while True:
                waiting = holder.execute(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if waiting and waiting[0] == len(starters):
                    break
                assert all(p.poll() is None for p in starters), [p.communicate() for p in starters]
                assert time.monotonic() < deadline, "the starters never queued on the migration lock"
                time.sleep(0.05)
            holder.rollback()  # releases the lock
        outputs = [p.communicate(timeout=60)[0] for p in starters]
        assert [p.returncode for p in starters] == [0, 0, 0], outputs
        assert all("schema is up to date" in out for out in outputs)
        # each migration recorded once (the primary key would have failed a second, unlocked run)
        assert schema_rows(url) == list(range(1, latest_version("postgres") + 1))


async def test_concurrent_opens_in_one_process_agree() -> None:
    with fresh_database() as url:
        stores = [PostgresStore(url, max_size=1) for _ in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            versions = await asyncio.gather(*(s.schema_version() for s in stores))
            assert versions == [latest_version("postgres")] * 4
        finally:
            await asyncio.gather(*(s.close() for s in stores))


def test_a_database_newer_than_the_code_is_refused() -> None:
    with fresh_database() as url:
        migrate = pyehsm("migrate", "--store", url)
        assert migrate.communicate(timeout=60)[0].strip() == "schema is up to date"
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO schema_version (version, applied_ms) VALUES (999, 0)")
        refused = pyehsm("migrate", "--store", url)
        output = refused.communicate(timeout=60)[0]
        assert refused.returncode == 1
        assert output.strip() == (
            f"pyehsm: the database schema version 999 is newer than this pyehsm knows "
            f"({latest_version('postgres')}); upgrade pyehsm before starting it on this database"
        )
        assert schema_rows(url)[-1] == 999  # nothing was touched


async def test_sqlite_newer_than_the_code_is_refused_too(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    store.conn.execute("INSERT INTO schema_version (version, applied_ms) VALUES (999, 0)")
    await store.close()
    with pytest.raises(StartupError, match="schema version 999 is newer"):
        await SqliteStore(tmp_path / "s.db").open()


async def test_an_unreachable_database_is_a_clear_startup_error_without_credentials() -> None:
    store = PostgresStore("postgresql://user:hunter2-secret@127.0.0.1:1/pyehsm", connect_timeout=1)
    with pytest.raises(StartupError) as caught:
        await store.open()
    assert str(caught.value) == "cannot connect to PostgreSQL at 127.0.0.1:1/pyehsm"
    assert "hunter2" not in repr(store)
