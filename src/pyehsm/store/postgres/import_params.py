"""BYOK import parameters (table import_tokens) and installing imported material."""

from __future__ import annotations

from typing import Any

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, evicts_key
from pyehsm.store.postgres.driver import psycopg
from pyehsm.store.records import ImportParamsRecord, KeyState, KeyVersionRecord, SealKeyVersion
from pyehsm.store.rows import IMPORT_COLUMNS, VERSION_INSERT, version_params


class ImportParamRows(PostgresBase):
    """The Store's BYOK import-parameter methods."""

    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        rows = await self.query_all(
            f"INSERT INTO import_tokens ({IMPORT_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s, %s, %s, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k WHERE k.keyid = %s AND k.appid = %s AND k.state <> %s "
            "AND k.origin = 'EH_EXTERNAL_KEY') "
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
                KeyState.PENDING_DELETION.value,
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
    async def install_key_material(
        self,
        appid: str,
        keyid: str,
        token_id: str,
        wrapped_material: bytes,
        material_id: str | None = None,
        expires_ms: int | None = None,
    ) -> bool:
        installed = False
        async with self.pool.connection() as conn, conn.transaction():
            steps: tuple[tuple[str, tuple[Any, ...]], ...] = (
                (
                    "DELETE FROM import_tokens WHERE keyid = %s AND appid = %s AND token_id = %s",
                    (keyid, appid, token_id),
                ),
                (
                    "UPDATE keys SET state = %s, material_expires_ms = %s "
                    "WHERE keyid = %s AND appid = %s AND state = %s",
                    (KeyState.ENABLED.value, expires_ms, keyid, appid, KeyState.PENDING_IMPORT.value),
                ),
                (
                    "UPDATE key_versions SET wrapped_material = %s, material_id = %s WHERE keyid = %s AND version = "
                    "(SELECT primary_version FROM keys WHERE keyid = %s) AND wrapped_material IS NULL "
                    "AND (material_id IS NULL OR material_id = %s)",
                    (wrapped_material, material_id, keyid, keyid, material_id),
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

    @evicts_key
    async def add_imported_key_version(
        self, appid: str, keyid: str, token_id: str, seal: SealKeyVersion, *, make_primary: bool, expires_ms: int | None
    ) -> KeyVersionRecord | None:
        added: KeyVersionRecord | None = None
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT primary_version FROM keys WHERE keyid = %s AND appid = %s AND state = %s FOR UPDATE",
                (keyid, appid, KeyState.ENABLED.value),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            primary = int(row[0])
            cur = await conn.execute("SELECT MAX(version) FROM key_versions WHERE keyid = %s", (keyid,))
            latest = await cur.fetchone()
            if latest is None or int(latest[0]) != primary:
                return None
            cur = await conn.execute(
                "DELETE FROM import_tokens WHERE keyid = %s AND appid = %s AND token_id = %s", (keyid, appid, token_id)
            )
            if cur.rowcount != 1:
                return None
            version = seal(primary + 1)
            await conn.execute(
                f"INSERT INTO {VERSION_INSERT} VALUES (%s, %s, %s, %s, %s, %s, %s)".encode(),
                (version.keyid, *version_params(version)),
            )
            await conn.execute(
                "UPDATE keys SET primary_version = %s, material_expires_ms = %s WHERE keyid = %s",
                (version.version if make_primary else primary, expires_ms, keyid),
            )
            await conn.execute("SELECT pg_notify(%s, %s)", (INVALIDATION_CHANNEL, f"k:{keyid}"))
            added = version
        return added

    @evicts_key
    async def promote_key_version(self, appid: str, keyid: str) -> int | None:
        row = await self.query_one(
            "WITH u AS (UPDATE keys SET primary_version = primary_version + 1 WHERE keyid = %s AND appid = %s "
            "AND EXISTS (SELECT 1 FROM key_versions v WHERE v.keyid = keys.keyid "
            "AND v.version = keys.primary_version + 1 AND v.wrapped_material IS NOT NULL) "
            "RETURNING keyid, primary_version) SELECT primary_version, pg_notify(%s, 'k:' || keyid) FROM u",
            (keyid, appid, INVALIDATION_CHANNEL),
        )
        return int(row[0]) if row else None

    @evicts_key
    async def delete_key_material(self, appid: str, keyid: str, material_id: str) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            return await _drop_material(conn, [(appid, keyid)], material_id) == 1

    async def expire_key_material(self, now_ms: int, limit: int, keyid: str | None = None) -> list[tuple[str, str]]:
        # Nodes sweeping at once skip each other's rows (SKIP LOCKED); each due key is expired once.
        only = "" if keyid is None else " AND keyid = %s"
        args: tuple[Any, ...] = (now_ms,) if keyid is None else (now_ms, keyid)
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                (
                    f"SELECT appid, keyid FROM keys WHERE material_expires_ms <= %s{only} "
                    "ORDER BY material_expires_ms, keyid LIMIT %s FOR UPDATE SKIP LOCKED"
                ).encode(),
                (*args, limit),
            )
            due = [(str(a), str(k)) for a, k in await cur.fetchall()]
            await _drop_material(conn, due, None)
        if self.cache is not None:
            for _, kid in due:
                self.cache.evict_key(kid)
        return due

    async def purge_import_params(self, now_ms: int) -> int:
        # Nodes sweeping at once skip each other's rows; each expired row is deleted once.
        rows = await self.query_all(
            "WITH gone AS (DELETE FROM import_tokens WHERE keyid = ANY(ARRAY("
            "  SELECT keyid FROM import_tokens WHERE expires_ms <= %s FOR UPDATE SKIP LOCKED"
            ")) RETURNING 1) SELECT COUNT(*) FROM gone",
            (now_ms,),
        )
        return int(rows[0][0]) if rows else 0


async def _drop_material(
    conn: psycopg.AsyncConnection[Any], keys: list[tuple[str, str]], material_id: str | None
) -> int:
    """Delete the primary version's material of each (appid, keyid) in ``keys`` (inside the caller's
    transaction), move each key to pending_import (unless pending deletion) and notify; how many changed."""
    changed = 0
    for appid, keyid in keys:
        cur = await conn.execute(
            "UPDATE key_versions SET wrapped_material = NULL, material_id = COALESCE(material_id, %s) "
            "WHERE keyid = %s AND wrapped_material IS NOT NULL "
            "AND version = (SELECT primary_version FROM keys WHERE keyid = %s AND appid = %s)",
            (material_id, keyid, keyid, appid),
        )
        if cur.rowcount != 1:
            continue
        changed += 1
        await conn.execute(
            "UPDATE keys SET material_expires_ms = NULL, state = CASE WHEN state = %s THEN state ELSE %s END "
            "WHERE keyid = %s",
            (KeyState.PENDING_DELETION.value, KeyState.PENDING_IMPORT.value, keyid),
        )
        await conn.execute("SELECT pg_notify(%s, %s)", (INVALIDATION_CHANNEL, f"k:{keyid}"))
    return changed
