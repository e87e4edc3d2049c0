"""Helpers shared by the store tests: one parametrised `store` fixture over every Store implementation
(SQLite, PostgreSQL, PostgreSQL reading through its row cache) lives in this folder's conftest.py."""

from __future__ import annotations

import uuid

import psycopg

from pyehsm.store.base import Store
from pyehsm.store.records import AppRecord

KINDS = ["sqlite", "postgres", "postgres+cache"]
T0 = 1_700_000_000_000


def new_id() -> str:
    return str(uuid.uuid4())


async def new_app(store: Store) -> str:
    appid = new_id()
    await store.insert_app(AppRecord(appid, b"wrapped-apikey:" + appid.encode(), T0))
    return appid


def empty_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename NOT IN ('schema_version', 'audit_log')"  # the audit table is append-only
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE".encode())
