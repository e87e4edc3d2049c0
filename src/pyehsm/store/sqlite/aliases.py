"""Key aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases; every keyid field accepts an alias)."""

from __future__ import annotations

from pyehsm.store.records import AliasRecord
from pyehsm.store.sqlite.connection import SqliteBase


class AliasRows(SqliteBase):
    """The Store's alias methods (each filters by appid: an alias is the app's own name)."""

    async def create_alias(self, appid: str, alias: str, keyid: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "INSERT INTO key_aliases (appid, alias, keyid, created_ms) SELECT appid, ?, keyid, ? FROM keys "
            "WHERE keyid = ? AND appid = ? ON CONFLICT (appid, alias) DO NOTHING",
            (alias, now_ms, keyid, appid),
        )
        return cur.rowcount == 1

    async def update_alias(self, appid: str, alias: str, keyid: str) -> bool:
        cur = self.conn.execute(
            "UPDATE key_aliases SET keyid = ? WHERE appid = ? AND alias = ? "
            "AND EXISTS (SELECT 1 FROM keys WHERE keyid = ? AND appid = ?)",
            (keyid, appid, alias, keyid, appid),
        )
        return cur.rowcount == 1

    async def delete_alias(self, appid: str, alias: str) -> bool:
        cur = self.conn.execute("DELETE FROM key_aliases WHERE appid = ? AND alias = ?", (appid, alias))
        return cur.rowcount == 1

    async def get_alias(self, appid: str, alias: str) -> str | None:
        row = self.conn.execute(
            "SELECT keyid FROM key_aliases WHERE appid = ? AND alias = ?", (appid, alias)
        ).fetchone()
        return str(row[0]) if row else None

    async def list_aliases(
        self, appid: str, keyid: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[AliasRecord]:
        where, params = "appid = ?", list[object]([appid])
        if keyid is not None:
            where += " AND keyid = ?"
            params.append(keyid)
        if after is not None:
            where += " AND alias > ?"
            params.append(after)
        rows = self.conn.execute(
            f"SELECT appid, alias, keyid, created_ms FROM key_aliases WHERE {where} ORDER BY alias LIMIT ?",
            (*params, -1 if limit is None else limit),
        ).fetchall()
        return [AliasRecord(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
