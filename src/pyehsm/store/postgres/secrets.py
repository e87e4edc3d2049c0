"""Secrets, their versions and the apps' default secrets keys."""

from __future__ import annotations

from typing import Any

from pyehsm.store.postgres.connection import PostgresBase
from pyehsm.store.postgres.driver import psycopg
from pyehsm.store.postgres.rows import SECRET_LIVE
from pyehsm.store.records import SealVersion, SecretRecord, SecretsKeyRecord, SecretVersionInfo, SecretVersionRecord
from pyehsm.store.rows import SECRET_COLUMNS, secret_from_row


class SecretRows(PostgresBase):
    """The Store's secret methods."""

    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None:
        row = await self.query_one(
            "SELECT appid, keyid, wrapped_material, created_ms FROM secret_keys WHERE appid = %s", (appid,)
        )
        return SecretsKeyRecord(row[0], row[1], bytes(row[2]), int(row[3])) if row else None

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        # The INSERT waits for a concurrent inserter for the same app; the SELECT then sees its row.
        await self.query_all(
            "INSERT INTO secret_keys (appid, keyid, wrapped_material, created_ms) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (appid) DO NOTHING RETURNING 1",
            (key.appid, key.keyid, key.wrapped_material, key.created_ms),
        )
        stored = await self.get_secrets_key(key.appid)
        if stored is None:  # pragma: no cover - the row was just written or already there
            raise RuntimeError("secrets key vanished")
        return stored

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            # A same-named secret whose deletion is due is gone already; the purge job may not have run yet.
            await conn.execute(
                "DELETE FROM secrets WHERE appid = %s AND name = %s AND planned_delete_ms <= %s",
                (secret.appid, secret.name, now_ms),
            )
            cur = await conn.execute(
                f"INSERT INTO secrets ({SECRET_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (appid, name) DO NOTHING".encode(),
                (
                    secret.appid,
                    secret.secret_id,
                    secret.name,
                    secret.description,
                    secret.encryption_keyid,
                    secret.rotation_interval,
                    secret.created_ms,
                    secret.updated_ms,
                    secret.last_rotation_ms,
                    secret.latest_version,
                    secret.planned_delete_ms,
                    secret.release_policy,
                ),
            )
            if cur.rowcount != 1:
                return False
            await self._insert_secret_version(conn, version)
        return True

    @staticmethod
    async def _insert_secret_version(conn: psycopg.AsyncConnection[Any], version: SecretVersionRecord) -> None:
        await conn.execute(
            "INSERT INTO secret_versions (secret_id, version, wrapped_data_key, sealed_value, created_ms) "
            "VALUES (%s, %s, %s, %s, %s)",
            (version.secret_id, version.version, version.wrapped_data_key, version.sealed_value, version.created_ms),
        )

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None:
        row = await self.query_one(
            f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = %s AND name = %s AND {SECRET_LIVE}",
            (appid, name, now_ms),
        )
        return secret_from_row(row) if row else None

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        if name is None:
            rows = await self.query_all(
                f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = %s AND {SECRET_LIVE} "
                "ORDER BY created_ms, name LIMIT %s",
                (appid, now_ms, limit),
            )
        else:
            rows = await self.query_all(
                f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = %s AND name = %s AND {SECRET_LIVE}",
                (appid, name, now_ms),
            )
        return [secret_from_row(row) for row in rows]

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        rows = await self.query_all(
            "UPDATE secrets SET description = %s, updated_ms = %s "
            "WHERE secret_id = %s AND appid = %s AND planned_delete_ms IS NULL RETURNING 1",
            (description, now_ms, secret_id, appid),
        )
        return len(rows) == 1

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        async with self.pool.connection() as conn, conn.transaction():
            # Concurrent writers of one secret queue on its row lock (FOR UPDATE) and each reads the
            # latest_version its predecessor committed: every write succeeds, in some order. ``seal`` is
            # pure computation (no I/O), so the lock is held for one round trip more than the writes.
            cur = await conn.execute(
                "SELECT latest_version FROM secrets "
                "WHERE secret_id = %s AND appid = %s AND planned_delete_ms IS NULL FOR UPDATE",
                (secret_id, appid),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            version = seal(int(row[0]) + 1)
            await conn.execute(
                "UPDATE secrets SET latest_version = %s, updated_ms = %s, last_rotation_ms = %s WHERE secret_id = %s",
                (version.version, now_ms, version.created_ms, secret_id),
            )
            await self._insert_secret_version(conn, version)
        return version.version

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None:
        row = await self.query_one(
            "SELECT v.secret_id, v.version, v.wrapped_data_key, v.sealed_value, v.created_ms FROM secret_versions v "
            "JOIN secrets s ON s.secret_id = v.secret_id WHERE v.secret_id = %s AND v.version = %s AND s.appid = %s",
            (secret_id, version, appid),
        )
        return SecretVersionRecord(row[0], int(row[1]), bytes(row[2]), bytes(row[3]), int(row[4])) if row else None

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        rows = await self.query_all(
            "SELECT v.version, v.created_ms FROM secret_versions v JOIN secrets s ON s.secret_id = v.secret_id "
            "WHERE v.secret_id = %s AND s.appid = %s ORDER BY v.version DESC LIMIT %s",
            (secret_id, appid, limit),
        )
        return [SecretVersionInfo(int(row[0]), int(row[1])) for row in rows]

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        rows = await self.query_all(
            f"UPDATE secrets SET planned_delete_ms = %s WHERE secret_id = %s AND appid = %s AND {SECRET_LIVE} "
            "RETURNING 1",
            (planned_delete_ms, secret_id, appid, now_ms),
        )
        return len(rows) == 1

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        rows = await self.query_all(
            f"UPDATE secrets SET planned_delete_ms = NULL WHERE secret_id = %s AND appid = %s AND {SECRET_LIVE} "
            "RETURNING 1",
            (secret_id, appid, now_ms),
        )
        return len(rows) == 1

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        rows = await self.query_all(
            "DELETE FROM secrets WHERE secret_id = %s AND appid = %s RETURNING 1", (secret_id, appid)
        )
        return len(rows) == 1

    async def purge_secrets(self, now_ms: int) -> int:
        # One statement; versions go with their secret (ON DELETE CASCADE). Nodes purging at once skip
        # the rows another node is deleting, so none waits and each row is removed exactly once.
        rows = await self.query_all(
            "WITH gone AS (DELETE FROM secrets WHERE secret_id = ANY(ARRAY("
            "  SELECT secret_id FROM secrets WHERE planned_delete_ms IS NOT NULL AND planned_delete_ms <= %s "
            "  FOR UPDATE SKIP LOCKED"
            ")) RETURNING 1) SELECT COUNT(*) FROM gone",
            (now_ms,),
        )
        return int(rows[0][0]) if rows else 0
