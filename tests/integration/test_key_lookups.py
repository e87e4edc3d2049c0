"""Migration 0014 (key lookups): ListKey's pages are ranges of the keys_listing index on both stores, and
SQLite's key_versions, rebuilt WITHOUT ROWID, keeps every row, constraint and cascade of a database made
before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from pyehsm.store.migrations import load_migrations
from pyehsm.store.postgres import keys as pg_keys
from pyehsm.store.sqlite import SqliteStore
from pyehsm.store.sqlite import keys as lite_keys
from pyehsm.store.sqlite.connection import connect, migrate
from tests.integration.stores import T0, new_id
from tests.support.postgres import fresh_database


def _sqlite_plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    return " | ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


async def test_sqlite_pages_walk_the_listing_index_without_sorting(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        first = _sqlite_plan(store.conn, lite_keys.LIST_KEYS, ("app", 100))
        deep = _sqlite_plan(store.conn, lite_keys.LIST_KEYS_AFTER, ("app", T0, new_id(), 100))
    finally:
        await store.close()
    for plan in (first, deep):
        assert "USING INDEX keys_listing" in plan and "TEMP B-TREE" not in plan, plan
    assert "(created_ms,keyid)>(?,?)" in deep.replace(" ", "")  # the cursor is a range of the index


def test_postgres_pages_walk_the_listing_index() -> None:
    with fresh_database() as url, psycopg.connect(url) as conn:
        for migration in load_migrations("postgres"):
            conn.execute(migration.sql.encode())
        conn.execute("SET enable_seqscan = off")  # an empty table: ask which index the planner would walk
        for sql, params in (
            (pg_keys.LIST_KEYS, ("app", 100)),
            (pg_keys.LIST_KEYS_AFTER, ("app", T0, new_id(), 100)),
        ):
            plan = "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN {sql}".encode(), params))
            assert "keys_listing" in plan and "Sort" not in plan, plan


def test_sqlite_database_of_schema_13_keeps_its_key_versions(tmp_path: Path) -> None:
    conn = connect(tmp_path / "old.db")
    for migration in load_migrations("sqlite")[:13]:
        sql = "\n".join(line for line in migration.sql.splitlines() if not line.strip().startswith("--"))
        for statement in [s for s in sql.split(";") if s.strip()]:
            conn.execute(statement)
    conn.execute("INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES ('app', x'00', 0)")
    keyids = [new_id() for _ in range(3)]
    for keyid in keyids:
        conn.execute(
            "INSERT INTO keys (keyid, appid, keyspec, origin, keyusage, state, created_ms, expire_ms) "
            "VALUES (?, 'app', 'EH_AES_GCM_256', 'EH_INTERNAL_KEY', 'EH_KEYUSAGE_ENCRYPT_DECRYPT', 'enabled', 0, 1)",
            (keyid,),
        )
        for version in (1, 2):
            conn.execute(
                "INSERT INTO key_versions (keyid, version, wrapped_material, created_ms, source, material_id) "
                "VALUES (?, ?, ?, ?, 'created', ?)",
                (keyid, version, f"m:{keyid}:{version}".encode(), version, f"id{version}"),
            )
    before = conn.execute("SELECT * FROM key_versions ORDER BY keyid, version").fetchall()
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    conn.executemany("INSERT INTO schema_version VALUES (?, 0)", [(v,) for v in range(1, 14)])
    assert migrate(conn) == 14
    assert conn.execute("SELECT * FROM key_versions ORDER BY keyid, version").fetchall() == before
    table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'key_versions'").fetchone()[0]
    assert "WITHOUT ROWID" in table_sql and "CHECK (state IN" in table_sql
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("DELETE FROM keys WHERE keyid = ?", (keyids[0],))  # the cascade still holds
    assert conn.execute("SELECT COUNT(*) FROM key_versions WHERE keyid = ?", (keyids[0],)).fetchone() == (0,)
    conn.close()
