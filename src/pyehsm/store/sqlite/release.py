"""Key release (docs/key-release.md): release policies on key and secret rows, single-use attestation nonces."""

from __future__ import annotations

from pyehsm.store.sqlite.connection import SqliteBase, transaction


class ReleaseRows(SqliteBase):
    """The Store's release-policy and attestation-nonce methods."""

    async def set_key_release_policy(self, appid: str, keyid: str, policy: str | None, expected: str | None) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET release_policy = ? WHERE keyid = ? AND appid = ? AND release_policy IS ?",
            (policy, keyid, appid, expected),
        )
        return cur.rowcount == 1

    async def set_secret_release_policy(
        self, appid: str, secret_id: str, policy: str | None, expected: str | None, now_ms: int
    ) -> bool:
        cur = self.conn.execute(
            "UPDATE secrets SET release_policy = ?, updated_ms = ? "
            "WHERE secret_id = ? AND appid = ? AND planned_delete_ms IS NULL AND release_policy IS ?",
            (policy, now_ms, secret_id, appid, expected),
        )
        return cur.rowcount == 1

    async def insert_attestation_nonce(self, appid: str, nonce: str, expires_ms: int, now_ms: int, limit: int) -> bool:
        with transaction(self.conn):
            self.conn.execute("DELETE FROM attestation_nonces WHERE expires_ms <= ?", (now_ms,))
            (count,) = self.conn.execute("SELECT COUNT(*) FROM attestation_nonces WHERE appid = ?", (appid,)).fetchone()
            if count >= limit:
                return False
            self.conn.execute(
                "INSERT INTO attestation_nonces (nonce, appid, expires_ms) VALUES (?, ?, ?)", (nonce, appid, expires_ms)
            )
        return True

    async def consume_attestation_nonce(self, appid: str, nonce: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "DELETE FROM attestation_nonces WHERE nonce = ? AND appid = ? AND expires_ms > ?", (nonce, appid, now_ms)
        )
        return cur.rowcount == 1
