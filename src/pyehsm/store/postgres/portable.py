"""Raw, still-wrapped row access for `pyehsm export` / `pyehsm import` (PortableStore)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from pyehsm.store.base import TableInfo
from pyehsm.store.postgres.connection import PostgresBase
from pyehsm.store.postgres.driver import sql


class PortableRows(PostgresBase):
    """PortableStore: raw row access for export and import."""

    async def tables(self) -> list[TableInfo]:
        """Every persistent data table (not schema_version, not the replay guard's table) with its FK parents."""
        rows = await self.query_all(
            "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum), "
            "  ARRAY(SELECT p.relname::text FROM pg_constraint f JOIN pg_class p ON p.oid = f.confrelid "
            "        WHERE f.conrelid = c.oid AND f.contype = 'f' AND p.oid <> c.oid) "
            "FROM pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
            "  AND c.relpersistence = 'p' AND c.relname NOT IN ('schema_version', 'replay') "
            "GROUP BY c.oid, c.relname ORDER BY c.relname",
            (),
        )
        return [TableInfo(str(name), tuple(cols), frozenset(parents)) for name, cols, parents in rows]

    async def count_rows(self, table: TableInfo) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table.name)))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def dump(
        self, tables: list[TableInfo], batch: int = 1000
    ) -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # one snapshot
            for table in tables:
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in table.columns), sql.Identifier(table.name)
                )
                async with conn.cursor(name="pyehsm_dump") as cur:
                    await cur.execute(query)
                    while rows := await cur.fetchmany(batch):
                        yield table, [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    async def load(self, batches: AsyncIterable[tuple[TableInfo, list[tuple[Any, ...]]]]) -> None:
        """Insert every batch in one transaction (all or nothing), then move sequences past the rows."""
        async with self.pool.connection() as conn, conn.transaction():
            loaded: set[str] = set()
            async for table, rows in batches:
                query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                    sql.Identifier(table.name),
                    sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
                    sql.SQL(", ").join(sql.Placeholder() for _ in table.columns),
                )
                async with conn.cursor() as cur:
                    await cur.executemany(query, rows)
                loaded.add(table.name)
            for name in sorted(loaded):
                cur = await conn.execute(
                    "SELECT a.attname::text, pg_get_serial_sequence(quote_ident(%s), a.attname) FROM pg_attribute a "
                    "WHERE a.attrelid = quote_ident(%s)::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                    "AND pg_get_serial_sequence(quote_ident(%s), a.attname) IS NOT NULL",
                    (name, name, name),
                )
                for column, sequence in await cur.fetchall():
                    await conn.execute(
                        sql.SQL("SELECT setval({}, COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)").format(
                            sql.Literal(sequence), sql.Identifier(column), sql.Identifier(name)
                        )
                    )
