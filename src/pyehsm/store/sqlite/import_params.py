"""BYOK import parameters (table import_tokens) and installing imported material."""

from __future__ import annotations

from pyehsm.store.records import ImportParamsRecord, KeyState
from pyehsm.store.rows import IMPORT_COLUMNS
from pyehsm.store.sqlite.connection import SqliteBase, transaction


class _Rollback(Exception):
    """Raised inside a transaction to undo it (install_key_material)."""


class ImportParamRows(SqliteBase):
    """The Store's BYOK import-parameter methods."""

    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO import_tokens ({IMPORT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k JOIN key_versions v ON v.keyid = k.keyid AND v.version = 1 "
            "WHERE k.keyid = ? AND k.appid = ? AND k.state = ? AND v.wrapped_material IS NULL) "
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
                KeyState.PENDING_IMPORT.value,
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

    async def install_key_material(self, appid: str, keyid: str, token_id: str, wrapped_material: bytes) -> bool:
        try:
            with transaction(self.conn):
                steps = (
                    (
                        "DELETE FROM import_tokens WHERE keyid = ? AND appid = ? AND token_id = ?",
                        (keyid, appid, token_id),
                    ),
                    (
                        "UPDATE keys SET state = ? WHERE keyid = ? AND appid = ? AND state = ?",
                        (KeyState.ENABLED.value, keyid, appid, KeyState.PENDING_IMPORT.value),
                    ),
                    (
                        "UPDATE key_versions SET wrapped_material = ? "
                        "WHERE keyid = ? AND version = 1 AND wrapped_material IS NULL",
                        (wrapped_material, keyid),
                    ),
                )
                for sql, args in steps:
                    if self.conn.execute(sql, args).rowcount != 1:
                        raise _Rollback
        except _Rollback:
            return False
        return True

    async def purge_import_params(self, now_ms: int) -> int:
        return self.conn.execute("DELETE FROM import_tokens WHERE expires_ms <= ?", (now_ms,)).rowcount
