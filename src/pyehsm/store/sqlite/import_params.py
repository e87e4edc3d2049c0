"""BYOK import parameters (table import_tokens) and installing imported material."""

from __future__ import annotations

from collections.abc import Callable

from pyehsm.store.records import ImportParamsRecord, KeyState, KeyVersionRecord, SealKeyVersion
from pyehsm.store.rows import IMPORT_COLUMNS
from pyehsm.store.sqlite.connection import SqliteBase, transaction


class _Rollback(Exception):
    """Raised inside a transaction to undo it (install_key_material)."""


class ImportParamRows(SqliteBase):
    _insert_key_version: Callable[[KeyVersionRecord], None]  # store/sqlite/keys.py (the store mixes both in)

    """The Store's BYOK import-parameter methods."""

    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO import_tokens ({IMPORT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k WHERE k.keyid = ? AND k.appid = ? AND k.state <> ? "
            "AND k.origin = 'EH_EXTERNAL_KEY') "
            "ON CONFLICT (keyid) DO UPDATE SET token_id = excluded.token_id, "
            "wrapping_keyspec = excluded.wrapping_keyspec, public_key = excluded.public_key, "
            "wrapped_private_key = excluded.wrapped_private_key, created_ms = excluded.created_ms, "
            "expires_ms = excluded.expires_ms, failures = 0 WHERE import_tokens.appid = excluded.appid",
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
        return cur.rowcount == 1

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        row = self.conn.execute(
            f"SELECT {IMPORT_COLUMNS} FROM import_tokens WHERE keyid = ? AND appid = ?", (keyid, appid)
        ).fetchone()
        if row is None:
            return None
        app, kid, token_id, keyspec, public, wrapped, created, expires, failures = row
        return ImportParamsRecord(
            str(app), str(kid), str(token_id), str(keyspec), bytes(public), bytes(wrapped), created, expires, failures
        )

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        where = "WHERE keyid = ? AND appid = ? AND token_id = ?"
        with transaction(self.conn):
            cur = self.conn.execute(
                f"UPDATE import_tokens SET failures = failures + 1 {where}", (keyid, appid, token_id)
            )
            if cur.rowcount != 1:
                return False
            cur = self.conn.execute(
                f"DELETE FROM import_tokens {where} AND failures >= ?", (keyid, appid, token_id, max_failures)
            )
        return cur.rowcount == 0

    async def install_key_material(
        self,
        appid: str,
        keyid: str,
        token_id: str,
        wrapped_material: bytes,
        material_id: str | None = None,
        expires_ms: int | None = None,
    ) -> bool:
        steps: tuple[tuple[str, tuple[object, ...]], ...] = (
            ("DELETE FROM import_tokens WHERE keyid = ? AND appid = ? AND token_id = ?", (keyid, appid, token_id)),
            (
                "UPDATE keys SET state = ?, material_expires_ms = ? WHERE keyid = ? AND appid = ? AND state = ?",
                (KeyState.ENABLED.value, expires_ms, keyid, appid, KeyState.PENDING_IMPORT.value),
            ),
            (
                "UPDATE key_versions SET wrapped_material = ?, material_id = ? WHERE keyid = ? AND version = "
                "(SELECT primary_version FROM keys WHERE keyid = ?) AND wrapped_material IS NULL "
                "AND (material_id IS NULL OR material_id = ?)",
                (wrapped_material, material_id, keyid, keyid, material_id),
            ),
        )
        return self._all_or_nothing(steps)

    def _all_or_nothing(self, steps: tuple[tuple[str, tuple[object, ...]], ...]) -> bool:
        """Run ``steps`` in one transaction; roll back and return False unless each changes exactly one row."""
        try:
            with transaction(self.conn):
                for sql, args in steps:
                    if self.conn.execute(sql, args).rowcount != 1:
                        raise _Rollback
        except _Rollback:
            return False
        return True

    async def add_imported_key_version(
        self, appid: str, keyid: str, token_id: str, seal: SealKeyVersion, *, make_primary: bool, expires_ms: int | None
    ) -> KeyVersionRecord | None:
        try:
            with transaction(self.conn):  # BEGIN IMMEDIATE: writers of every process queue here
                row = self.conn.execute(
                    "SELECT (SELECT MAX(version) FROM key_versions WHERE keyid = k.keyid), k.primary_version "
                    "FROM keys k WHERE k.keyid = ? AND k.appid = ? AND k.state = ?",
                    (keyid, appid, KeyState.ENABLED.value),
                ).fetchone()
                if row is None or int(row[0]) != int(row[1]):
                    return None
                cur = self.conn.execute(
                    "DELETE FROM import_tokens WHERE keyid = ? AND appid = ? AND token_id = ?", (keyid, appid, token_id)
                )
                if cur.rowcount != 1:
                    raise _Rollback
                version = seal(int(row[0]) + 1)
                self._insert_key_version(version)
                primary = version.version if make_primary else int(row[1])
                self.conn.execute(
                    "UPDATE keys SET primary_version = ?, material_expires_ms = ? WHERE keyid = ?",
                    (primary, expires_ms, keyid),
                )
        except _Rollback:
            return None
        return version

    async def promote_key_version(self, appid: str, keyid: str) -> int | None:
        row = self.conn.execute(
            "UPDATE keys SET primary_version = primary_version + 1 WHERE keyid = ? AND appid = ? AND EXISTS ("
            "SELECT 1 FROM key_versions v WHERE v.keyid = keys.keyid AND v.version = keys.primary_version + 1 "
            "AND v.wrapped_material IS NOT NULL) RETURNING primary_version",
            (keyid, appid),
        ).fetchone()
        return int(row[0]) if row else None

    async def delete_key_material(self, appid: str, keyid: str, material_id: str) -> bool:
        with transaction(self.conn):
            return bool(self._drop_material("keyid = ? AND appid = ?", (keyid, appid), material_id))

    async def expire_key_material(self, now_ms: int, limit: int, keyid: str | None = None) -> list[tuple[str, str]]:
        where, args = "material_expires_ms <= ?", list[object]([now_ms])
        if keyid is not None:
            where, args = where + " AND keyid = ?", [now_ms, keyid]
        with transaction(self.conn):
            due = self.conn.execute(
                f"SELECT appid, keyid FROM keys WHERE {where} ORDER BY material_expires_ms, keyid LIMIT ?",
                (*args, limit),
            ).fetchall()
            for appid, kid in due:
                self._drop_material("keyid = ? AND appid = ?", (kid, appid), None)
        return [(str(a), str(k)) for a, k in due]

    def _drop_material(self, where: str, args: tuple[object, ...], material_id: str | None) -> int:
        """Delete the primary version's material of the key ``where`` names (inside a transaction); rows changed."""
        cur = self.conn.execute(
            "UPDATE key_versions SET wrapped_material = NULL, material_id = COALESCE(material_id, ?) "
            f"WHERE wrapped_material IS NOT NULL AND (keyid, version) IN (SELECT keyid, primary_version FROM keys "
            f"WHERE {where})",
            (material_id, *args),
        )
        if cur.rowcount:
            self.conn.execute(
                f"UPDATE keys SET material_expires_ms = NULL, state = CASE WHEN state = ? THEN state ELSE ? END "
                f"WHERE {where}",
                (KeyState.PENDING_DELETION.value, KeyState.PENDING_IMPORT.value, *args),
            )
        return cur.rowcount

    async def purge_import_params(self, now_ms: int) -> int:
        return self.conn.execute("DELETE FROM import_tokens WHERE expires_ms <= ?", (now_ms,)).rowcount
