"""Secrets, their versions and the apps' default secrets keys."""

from __future__ import annotations

from pyehsm.store.records import SealVersion, SecretRecord, SecretsKeyRecord, SecretVersionInfo, SecretVersionRecord
from pyehsm.store.rows import SECRET_COLUMNS, secret_from_row
from pyehsm.store.sqlite.connection import SqliteBase, transaction
from pyehsm.store.sqlite.rows import SECRET_LIVE


class SecretRows(SqliteBase):
    """The Store's secret methods."""

    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None:
        row = self.conn.execute(
            "SELECT appid, keyid, wrapped_material, created_ms FROM secret_keys WHERE appid = ?", (appid,)
        ).fetchone()
        return SecretsKeyRecord(row[0], row[1], bytes(row[2]), row[3]) if row else None

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO secret_keys (appid, keyid, wrapped_material, created_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (appid) DO NOTHING",
                (key.appid, key.keyid, key.wrapped_material, key.created_ms),
            )
            stored = await self.get_secrets_key(key.appid)
        if stored is None:  # pragma: no cover - the row was just written in this transaction
            raise RuntimeError("secrets key vanished")
        return stored

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        with transaction(self.conn):
            # A same-named secret whose deletion is due is gone already; the purge job may not have run yet.
            self.conn.execute(
                "DELETE FROM secrets WHERE appid = ? AND name = ? AND planned_delete_ms <= ?",
                (secret.appid, secret.name, now_ms),
            )
            cur = self.conn.execute(
                f"INSERT INTO secrets ({SECRET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (appid, name) DO NOTHING",
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
            self._insert_secret_version(version)
        return True

    def _insert_secret_version(self, version: SecretVersionRecord) -> None:
        self.conn.execute(
            "INSERT INTO secret_versions (secret_id, version, wrapped_data_key, sealed_value, created_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (version.secret_id, version.version, version.wrapped_data_key, version.sealed_value, version.created_ms),
        )

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None:
        row = self.conn.execute(
            f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = ? AND name = ? AND {SECRET_LIVE}",
            (appid, name, now_ms),
        ).fetchone()
        return secret_from_row(row) if row else None

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        if name is None:
            rows = self.conn.execute(
                f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = ? AND {SECRET_LIVE} "
                "ORDER BY created_ms, name LIMIT ?",
                (appid, now_ms, limit),
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {SECRET_COLUMNS} FROM secrets WHERE appid = ? AND name = ? AND {SECRET_LIVE}",
                (appid, name, now_ms),
            ).fetchall()
        return [secret_from_row(row) for row in rows]

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "UPDATE secrets SET description = ?, updated_ms = ? "
            "WHERE secret_id = ? AND appid = ? AND planned_delete_ms IS NULL",
            (description, now_ms, secret_id, appid),
        )
        return cur.rowcount == 1

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        with transaction(self.conn):  # BEGIN IMMEDIATE: writers of every process and thread queue here
            row = self.conn.execute(
                "SELECT latest_version FROM secrets WHERE secret_id = ? AND appid = ? AND planned_delete_ms IS NULL",
                (secret_id, appid),
            ).fetchone()
            if row is None:
                return None
            version = seal(int(row[0]) + 1)
            self.conn.execute(
                "UPDATE secrets SET latest_version = ?, updated_ms = ?, last_rotation_ms = ? WHERE secret_id = ?",
                (version.version, now_ms, version.created_ms, secret_id),
            )
            self._insert_secret_version(version)
        return version.version

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None:
        row = self.conn.execute(
            "SELECT v.secret_id, v.version, v.wrapped_data_key, v.sealed_value, v.created_ms FROM secret_versions v "
            "JOIN secrets s ON s.secret_id = v.secret_id WHERE v.secret_id = ? AND v.version = ? AND s.appid = ?",
            (secret_id, version, appid),
        ).fetchone()
        return SecretVersionRecord(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4]) if row else None

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        rows = self.conn.execute(
            "SELECT v.version, v.created_ms FROM secret_versions v JOIN secrets s ON s.secret_id = v.secret_id "
            "WHERE v.secret_id = ? AND s.appid = ? ORDER BY v.version DESC LIMIT ?",
            (secret_id, appid, limit),
        ).fetchall()
        return [SecretVersionInfo(row[0], row[1]) for row in rows]

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        cur = self.conn.execute(
            f"UPDATE secrets SET planned_delete_ms = ? WHERE secret_id = ? AND appid = ? AND {SECRET_LIVE}",
            (planned_delete_ms, secret_id, appid, now_ms),
        )
        return cur.rowcount == 1

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            f"UPDATE secrets SET planned_delete_ms = NULL WHERE secret_id = ? AND appid = ? AND {SECRET_LIVE}",
            (secret_id, appid, now_ms),
        )
        return cur.rowcount == 1

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM secrets WHERE secret_id = ? AND appid = ?", (secret_id, appid))
        return cur.rowcount == 1

    async def purge_secrets(self, now_ms: int) -> int:
        # One statement; versions go with their secret (ON DELETE CASCADE). Concurrent runs delete each row once.
        cur = self.conn.execute(
            "DELETE FROM secrets WHERE planned_delete_ms IS NOT NULL AND planned_delete_ms <= ?", (now_ms,)
        )
        return cur.rowcount
