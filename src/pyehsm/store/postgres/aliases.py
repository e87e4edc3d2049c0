"""Key aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases; every keyid field accepts an alias)."""

from __future__ import annotations

from pyehsm.store.postgres.connection import PostgresBase
from pyehsm.store.records import AliasRecord


class AliasRows(PostgresBase):
    """The Store's alias methods (each filters by appid: an alias is the app's own name)."""

    async def create_alias(self, appid: str, alias: str, keyid: str, now_ms: int) -> bool:
        rows = await self.query_all(
            "INSERT INTO key_aliases (appid, alias, keyid, created_ms) SELECT appid, %s, keyid, %s FROM keys "
            "WHERE keyid = %s AND appid = %s ON CONFLICT (appid, alias) DO NOTHING RETURNING 1",
            (alias, now_ms, keyid, appid),
        )
        return len(rows) == 1

    async def update_alias(self, appid: str, alias: str, keyid: str) -> bool:
        rows = await self.query_all(
            "UPDATE key_aliases SET keyid = %s WHERE appid = %s AND alias = %s "
            "AND EXISTS (SELECT 1 FROM keys WHERE keyid = %s AND appid = %s) RETURNING 1",
            (keyid, appid, alias, keyid, appid),
        )
        return len(rows) == 1

    async def delete_alias(self, appid: str, alias: str) -> bool:
        rows = await self.query_all(
            "DELETE FROM key_aliases WHERE appid = %s AND alias = %s RETURNING 1", (appid, alias)
        )
        return len(rows) == 1

    async def get_alias(self, appid: str, alias: str) -> str | None:
        row = await self.query_one("SELECT keyid FROM key_aliases WHERE appid = %s AND alias = %s", (appid, alias))
        return str(row[0]) if row else None

    async def list_aliases(
        self, appid: str, keyid: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[AliasRecord]:
        where, params = "appid = %s", list[object]([appid])
        if keyid is not None:
            where += " AND keyid = %s"
            params.append(keyid)
        if after is not None:
            where += ' AND alias > %s COLLATE "C"'
            params.append(after)
        rows = await self.query_all(
            f"SELECT appid, alias, keyid, created_ms FROM key_aliases WHERE {where} "
            'ORDER BY alias COLLATE "C" LIMIT %s',
            (*params, limit),
        )
        return [AliasRecord(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
