"""The PostgreSQL sink: the trail in an append-only table, one chain per node (docs/audit.md).

Rows are (node, seq, line); ``line`` is the record's canonical bytes, stored as text and hashed by the
verifier exactly as read. A batch is one transaction, so a failed write stores nothing of it. The table
comes with schema 8 (store/migrations/postgres/0008_audit_log.sql); a database that is not the pyehsm
store gets the same file applied (it only creates the table, its function and its trigger).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pyehsm.audit.sink import AsyncSink
from pyehsm.audit.verify import Line, Source
from pyehsm.errors import StartupError
from pyehsm.extras import POSTGRESQL, MissingExtraError

try:  # the "postgresql" extra
    import psycopg
except ImportError as exc:
    raise MissingExtraError(*POSTGRESQL) from exc


def _migration_sql() -> str:
    folder = resources.files("pyehsm.store.migrations").joinpath("postgres")
    return folder.joinpath("0008_audit_log.sql").read_text(encoding="utf-8")


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=15)
    except psycopg.Error as exc:
        raise StartupError(f"cannot connect to the audit database: {type(exc).__name__}") from None
    return conn


class PgSink(AsyncSink):
    def __init__(self, conn: psycopg.AsyncConnection[Any], node: str, last: bytes | None) -> None:
        self._conn = conn
        self._node = node
        self._last = last

    def __repr__(self) -> str:
        return f"<PgSink node={self._node}>"

    @classmethod
    async def open(cls, url: str, node: str) -> PgSink:
        conn = await _connect(url)
        async with conn.transaction():
            cur = await conn.execute("SELECT to_regclass('audit_log') IS NOT NULL")
            row = await cur.fetchone()
            if not (row and row[0]):
                await conn.execute(_migration_sql().encode())
            cur = await conn.execute("SELECT line FROM audit_log WHERE node = %s ORDER BY seq DESC LIMIT 1", (node,))
            row = await cur.fetchone()
        return cls(conn, node, row[0].encode() if row else None)

    def last_line(self) -> bytes | None:
        return self._last

    async def write_lines(self, first_seq: int, lines: list[bytes]) -> None:
        rows = [(self._node, first_seq + i, line.decode()) for i, line in enumerate(lines)]
        try:
            async with self._conn.transaction(), self._conn.cursor() as cur:
                await cur.executemany("INSERT INTO audit_log (node, seq, line) VALUES (%s, %s, %s)", rows)
        except Exception:
            if self._conn.closed or self._conn.broken:
                self._conn = await _connect(self._conn.info.dsn)
            raise

    async def aclose(self) -> None:
        await self._conn.close()


async def read_sources(url: str) -> list[Source]:
    """Every node's chain in the table, one Source per node, in seq order (for the verifier)."""
    conn = await _connect(url)
    try:
        cur = await conn.execute("SELECT node, line FROM audit_log ORDER BY node, seq")
        rows = await cur.fetchall()
    finally:
        await conn.close()
    sources: dict[str, Source] = {}
    for node, line in rows:
        source = sources.setdefault(node, Source(f"postgresql node {node}", []))
        source.lines.append(Line(source.name, len(source.lines) + 1, line.encode()))
    return list(sources.values())
