"""Meta rows (wrapped domain keys, settings) and the DK-wrapped values the domain-key rotation re-wraps."""

from __future__ import annotations

from dataclasses import dataclass

from pyehsm.store.base import WRAPPED_ROWS, WrappedValue
from pyehsm.store.cache import APP_CHANGED
from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase
from pyehsm.store.postgres.driver import psycopg

META_LOCK_KEY = 0x7079_6568_736E  # serialises replace_meta (domain-key and root-key rotation) across nodes


@dataclass(frozen=True, slots=True)
class _WrappedSql:
    """SQL for one DK-wrapped column (base.WRAPPED_KINDS): page, compare-and-swap, count per header."""

    select: str  # params: below, *cursor, limit -> rows (*key, *owner-only fields, wrapped)
    update: str  # params: new, *key, old
    count: str
    first: tuple[str | int, ...]  # a cursor below every real key


# bytea compares bytewise, so "header < below" finds values wrapped under an older domain key.
_WRAPPED_SQL = {
    "cmk": _WrappedSql(
        select="SELECT v.keyid, v.version, k.appid, k.keyspec, v.wrapped_material FROM key_versions v "
        "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL "
        "AND substring(v.wrapped_material from 1 for 5) < %s AND (v.keyid, v.version) > (%s, %s) "
        "ORDER BY v.keyid, v.version LIMIT %s",
        update="UPDATE key_versions SET wrapped_material = %s "
        "WHERE keyid = %s AND version = %s AND wrapped_material = %s",
        count="SELECT substring(wrapped_material from 1 for 5), COUNT(*) FROM key_versions "
        "WHERE wrapped_material IS NOT NULL GROUP BY 1",
        first=("", -1),
    ),
    "apikey": _WrappedSql(
        select="SELECT appid, wrapped_apikey FROM apps WHERE substring(wrapped_apikey from 1 for 5) < %s "
        "AND appid > %s ORDER BY appid LIMIT %s",
        update="UPDATE apps SET wrapped_apikey = %s WHERE appid = %s AND wrapped_apikey = %s",
        count="SELECT substring(wrapped_apikey from 1 for 5), COUNT(*) FROM apps GROUP BY 1",
        first=("",),
    ),
    "secrets_key": _WrappedSql(
        select="SELECT appid, keyid, wrapped_material FROM secret_keys "
        "WHERE substring(wrapped_material from 1 for 5) < %s AND appid > %s ORDER BY appid LIMIT %s",
        update="UPDATE secret_keys SET wrapped_material = %s WHERE appid = %s AND wrapped_material = %s",
        count="SELECT substring(wrapped_material from 1 for 5), COUNT(*) FROM secret_keys GROUP BY 1",
        first=("",),
    ),
    "import_key": _WrappedSql(
        select="SELECT keyid, appid, token_id, wrapping_keyspec, wrapped_private_key FROM import_tokens "
        "WHERE substring(wrapped_private_key from 1 for 5) < %s AND keyid > %s ORDER BY keyid LIMIT %s",
        update="UPDATE import_tokens SET wrapped_private_key = %s WHERE keyid = %s AND wrapped_private_key = %s",
        count="SELECT substring(wrapped_private_key from 1 for 5), COUNT(*) FROM import_tokens GROUP BY 1",
        first=("",),
    ),
}


class MetaRows(PostgresBase):
    """The Store's meta and DK-wrapped-value methods."""

    async def get_meta(self, name: str) -> bytes | None:
        row = await self.query_one("SELECT value FROM meta WHERE name = %s", (name,))
        return bytes(row[0]) if row else None

    async def put_meta(self, name: str, value: bytes) -> None:
        await self.query_one(
            "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value "
            "RETURNING 1",
            (name, value),
        )

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        # The INSERT waits for a concurrent inserter of the same name; the SELECT then sees its row.
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", (name, value)
            )
            cur = await conn.execute("SELECT value FROM meta WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:  # pragma: no cover - the row was just inserted or already there
            raise RuntimeError(f"meta entry {name} vanished")
        return bytes(row[0])

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            # Every compare-and-swap of meta queues here, so two callers expecting the same absent row
            # cannot both win; FOR UPDATE also holds off plain writers of the rows being compared.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (META_LOCK_KEY,))
            if expected:
                cur = await conn.execute(
                    "SELECT name, value FROM meta WHERE name = ANY(%s) FOR UPDATE", (list(expected),)
                )
                current = {str(name): bytes(value) for name, value in await cur.fetchall()}
                if any(current.get(name) != want for name, want in expected.items()):
                    return False
            for name, value in values.items():
                await conn.execute(
                    "INSERT INTO meta (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    (name, value),
                )
            if delete:
                await conn.execute("DELETE FROM meta WHERE name = ANY(%s)", (list(delete),))
        return True

    def read_meta_blocking(self, name: str) -> bytes | None:
        """BlockingMetaReader: one meta row over a short synchronous connection (rare: the keyring asks
        when a wrapped value names a domain key this node has not loaded yet)."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return bytes(row[0]) if row else None

    # -- domain-key rotation (base.WRAPPED_KINDS) ----------------------------------------------------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        wrapped = _WRAPPED_SQL[kind]
        rows = await self.query_all(wrapped.select, (below, *(after if after is not None else wrapped.first), limit))
        return [WRAPPED_ROWS[kind](kind, tuple(row)) for row in rows]

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        if not changes:
            return 0
        changed = 0
        apps = [str(value.key[0]) for value, _ in changes if value.kind == "apikey"]
        try:
            async with self.pool.connection() as conn, conn.transaction():
                for value, new in changes:
                    cur = await conn.execute(_WRAPPED_SQL[value.kind].update.encode(), (new, *value.key, value.wrapped))
                    changed += cur.rowcount
                if apps:  # app rows are cached (store/cache.py): other nodes drop them when this commits
                    await conn.execute(
                        "SELECT pg_notify(%s, 'a:' || a) FROM unnest(%s::text[]) AS a", (INVALIDATION_CHANNEL, apps)
                    )
        finally:
            if self.cache is not None:
                for appid in apps:
                    self.cache.changed(APP_CHANGED, appid)
        return changed

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        rows = await self.query_all(_WRAPPED_SQL[kind].count, ())
        return {bytes(prefix): int(n) for prefix, n in rows}
