"""Raw, still-wrapped row access for `pyehsm export` / `pyehsm import` (PortableStore) and `pyehsm backup`."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from pyehsm.store.base import TableInfo
from pyehsm.store.sqlite.connection import SqliteBase, transaction


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PortableRows(SqliteBase):
    """PortableStore: raw row access for export and import."""

    async def schema_version(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    async def tables(self) -> list[TableInfo]:
        names = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name <> 'schema_version' ORDER BY name"
            )
        ]
        found = []
        for name in names:
            quoted = _quote(name)
            columns = tuple(str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({quoted})"))
            parents = frozenset(str(r[2]) for r in self.conn.execute(f"PRAGMA foreign_key_list({quoted})")) - {name}
            found.append(TableInfo(name, columns, parents))
        return found

    async def count_rows(self, table: TableInfo) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {_quote(table.name)}").fetchone()[0])

    async def dump(
        self, tables: list[TableInfo], batch: int = 1000
    ) -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        with transaction(self.conn, "DEFERRED"):  # one WAL read snapshot for every table
            for table in tables:
                cols = ", ".join(_quote(c) for c in table.columns)
                cur = self.conn.execute(f"SELECT {cols} FROM {_quote(table.name)}")
                while rows := cur.fetchmany(batch):
                    yield table, [tuple(row) for row in rows]

    async def load(self, batches: AsyncIterable[tuple[TableInfo, list[tuple[Any, ...]]]]) -> None:
        with transaction(self.conn):
            async for table, rows in batches:
                cols = ", ".join(_quote(c) for c in table.columns)
                marks = ", ".join("?" for _ in table.columns)
                self.conn.executemany(f"INSERT INTO {_quote(table.name)} ({cols}) VALUES ({marks})", rows)

    def backup_to(self, target: Path) -> None:
        """A consistent snapshot of the whole database into the new file ``target`` (created 0600) with
        SQLite's online backup API, in one step (a read transaction: writers go on meanwhile)."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dest = sqlite3.connect(target)
        try:
            self.conn.backup(dest)
        finally:
            dest.close()
