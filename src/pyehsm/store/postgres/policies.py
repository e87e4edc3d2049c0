"""Key policies (the AWS door's PutKeyPolicy / GetKeyPolicy): stored documents, never evaluated."""

from __future__ import annotations

from pyehsm.store.postgres.connection import PostgresBase


class PolicyRows(PostgresBase):
    """The Store's key-policy methods (each reaches the policy through the app's own key row)."""

    async def put_key_policy(self, appid: str, keyid: str, name: str, policy: str, now_ms: int) -> bool:
        rows = await self.query_all(
            "INSERT INTO key_policies (keyid, policy_name, policy, updated_ms) "
            "SELECT keyid, %s, %s, %s FROM keys WHERE keyid = %s AND appid = %s "
            "ON CONFLICT (keyid, policy_name) DO UPDATE SET policy = excluded.policy, updated_ms = excluded.updated_ms "
            "RETURNING 1",
            (name, policy, now_ms, keyid, appid),
        )
        return len(rows) == 1

    async def get_key_policy(self, appid: str, keyid: str, name: str) -> str | None:
        row = await self.query_one(
            "SELECT p.policy FROM key_policies p JOIN keys k ON k.keyid = p.keyid "
            "WHERE p.keyid = %s AND k.appid = %s AND p.policy_name = %s",
            (keyid, appid, name),
        )
        return str(row[0]) if row else None
