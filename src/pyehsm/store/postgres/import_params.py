"""BYOK import parameters (table import_tokens) and installing imported material."""

from __future__ import annotations

from typing import Any

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, evicts_key
from pyehsm.store.postgres.driver import psycopg
from pyehsm.store.records import ImportParamsRecord, KeyState
from pyehsm.store.rows import IMPORT_COLUMNS


class ImportParamRows(PostgresBase):
    """The Store's BYOK import-parameter methods."""

    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        rows = await self.query_all(
            f"INSERT INTO import_tokens ({IMPORT_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s, %s, %s, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k JOIN key_versions v ON v.keyid = k.keyid AND v.version = 1 "
            "WHERE k.keyid = %s AND k.appid = %s AND k.state = %s AND v.wrapped_material IS NULL) "
            "ON CONFLICT (keyid) DO UPDATE SET token_id = EXCLUDED.token_id, "
            "wrapping_keyspec = EXCLUDED.wrapping_keyspec, public_key = EXCLUDED.public_key, "
            "wrapped_private_key = EXCLUDED.wrapped_private_key, created_ms = EXCLUDED.created_ms, "
            "expires_ms = EXCLUDED.expires_ms, failures = 0 WHERE import_tokens.appid = EXCLUDED.appid RETURNING 1",
            (
                params.appid,
                params.keyid,
                params.token_id,
                params.wrapping_keyspec,
                params.public_key,
                params.wrapped_private_key,
                params.created_ms,
                params.expires_ms,
                params.keyid,
                params.appid,
                KeyState.PENDING_IMPORT.value,
            ),
        )
        return len(rows) == 1

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        row = await self.query_one(
            f"SELECT {IMPORT_COLUMNS} FROM import_tokens WHERE keyid = %s AND appid = %s", (keyid, appid)
        )
        if row is None:
            return None
        app, kid, token_id, keyspec, public, wrapped, created, expires, failures = row
        return ImportParamsRecord(
            app, kid, token_id, keyspec, bytes(public), bytes(wrapped), int(created), int(expires), int(failures)
        )

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE import_tokens SET failures = failures + 1 "
                "WHERE keyid = %s AND appid = %s AND token_id = %s RETURNING failures",
                (keyid, appid, token_id),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            if int(row[0]) >= max_failures:
                await conn.execute("DELETE FROM import_tokens WHERE keyid = %s AND token_id = %s", (keyid, token_id))
                return False
        return True

    @evicts_key
    async def install_key_material(self, appid: str, keyid: str, token_id: str, wrapped_material: bytes) -> bool:
        installed = False
        async with self.pool.connection() as conn, conn.transaction():
            steps: tuple[tuple[str, tuple[Any, ...]], ...] = (
                (
                    "DELETE FROM import_tokens WHERE keyid = %s AND appid = %s AND token_id = %s",
                    (keyid, appid, token_id),
                ),
                (
                    "UPDATE keys SET state = %s WHERE keyid = %s AND appid = %s AND state = %s",
                    (KeyState.ENABLED.value, keyid, appid, KeyState.PENDING_IMPORT.value),
                ),
                (
                    "UPDATE key_versions SET wrapped_material = %s "
                    "WHERE keyid = %s AND version = 1 AND wrapped_material IS NULL",
                    (wrapped_material, keyid),
                ),
            )
            for query, args in steps:
                cur = await conn.execute(query.encode(), args)
                if cur.rowcount != 1:
                    raise psycopg.Rollback  # leaves the transaction block (rolled back), not the method
            # the key's state changed: other nodes evict it when this commits
            await conn.execute("SELECT pg_notify(%s, %s)", (INVALIDATION_CHANNEL, f"k:{keyid}"))
            installed = True
        return installed

    async def purge_import_params(self, now_ms: int) -> int:
        # Nodes sweeping at once skip each other's rows; each expired row is deleted once.
        rows = await self.query_all(
            "WITH gone AS (DELETE FROM import_tokens WHERE keyid = ANY(ARRAY("
            "  SELECT keyid FROM import_tokens WHERE expires_ms <= %s FOR UPDATE SKIP LOCKED"
            ")) RETURNING 1) SELECT COUNT(*) FROM gone",
            (now_ms,),
        )
        return int(rows[0][0]) if rows else 0
