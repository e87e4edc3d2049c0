"""Key release (docs/key-release.md): release policies on key and secret rows, single-use attestation nonces
shared by every node (a nonce is deleted by the one request that spends it)."""

from __future__ import annotations

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, evicts_key


class ReleaseRows(PostgresBase):
    """The Store's release-policy and attestation-nonce methods."""

    @evicts_key
    async def set_key_release_policy(self, appid: str, keyid: str, policy: str | None, expected: str | None) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET release_policy = %s WHERE keyid = %s AND appid = %s "
            "AND release_policy IS NOT DISTINCT FROM %s::text RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (policy, keyid, appid, expected, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    async def set_secret_release_policy(
        self, appid: str, secret_id: str, policy: str | None, expected: str | None, now_ms: int
    ) -> bool:
        rows = await self.query_all(
            "UPDATE secrets SET release_policy = %s, updated_ms = %s "
            "WHERE secret_id = %s AND appid = %s AND planned_delete_ms IS NULL "
            "AND release_policy IS NOT DISTINCT FROM %s::text RETURNING 1",
            (policy, now_ms, secret_id, appid, expected),
        )
        return len(rows) == 1

    async def insert_attestation_nonce(self, appid: str, nonce: str, expires_ms: int, now_ms: int, limit: int) -> bool:
        # One statement: expired nonces go, and the new one is stored unless the app holds ``limit`` live ones.
        rows = await self.query_all(
            "WITH purge AS (DELETE FROM attestation_nonces WHERE expires_ms <= %s), "
            "live AS (SELECT COUNT(*) AS n FROM attestation_nonces WHERE appid = %s AND expires_ms > %s) "
            "INSERT INTO attestation_nonces (nonce, appid, expires_ms) SELECT %s, %s, %s FROM live WHERE n < %s "
            "RETURNING 1",
            (now_ms, appid, now_ms, nonce, appid, expires_ms, limit),
        )
        return len(rows) == 1

    async def consume_attestation_nonce(self, appid: str, nonce: str, now_ms: int) -> bool:
        rows = await self.query_all(
            "DELETE FROM attestation_nonces WHERE nonce = %s AND appid = %s AND expires_ms > %s RETURNING 1",
            (nonce, appid, now_ms),
        )
        return len(rows) == 1
