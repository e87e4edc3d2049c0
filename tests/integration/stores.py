"""Helpers shared by the store tests: one parametrised `store` fixture over every Store implementation
(SQLite, PostgreSQL, PostgreSQL reading through its row cache) lives in this folder's conftest.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import psycopg

from pyehsm.store.base import Store
from pyehsm.store.records import AppRecord, KeyRecord, KeyState

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


def key_record(appid: str, keyid: str) -> KeyRecord:
    """An enabled AES-256-GCM key row (created at 1, primary version 1) for store-level tests."""
    return KeyRecord(appid, keyid, "EH_AES_GCM_256", "EH_INTERNAL_KEY", "EH_KEYUSAGE_ENCRYPT_DECRYPT",
                     KeyState.ENABLED, "", 1, 2, 1)  # fmt: skip


async def until(condition: Callable[[], bool], bound_s: float, what: str = "not within the bound") -> None:
    """Wait (polling every 10 ms) until ``condition()`` holds; fail with ``what`` after ``bound_s`` seconds."""
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)
