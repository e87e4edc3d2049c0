"""Key policies (the AWS door's PutKeyPolicy / GetKeyPolicy): stored documents, never evaluated."""

from __future__ import annotations

from pyehsm.store.sqlite.connection import SqliteBase


class PolicyRows(SqliteBase):
    """The Store's key-policy methods (each reaches the policy through the app's own key row)."""

    async def put_key_policy(self, appid: str, keyid: str, name: str, policy: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "INSERT INTO key_policies (keyid, policy_name, policy, updated_ms) "
            "SELECT keyid, ?, ?, ? FROM keys WHERE keyid = ? AND appid = ? "
            "ON CONFLICT (keyid, policy_name) DO UPDATE SET policy = excluded.policy, updated_ms = excluded.updated_ms",
            (name, policy, now_ms, keyid, appid),
        )
        return cur.rowcount == 1

    async def get_key_policy(self, appid: str, keyid: str, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT p.policy FROM key_policies p JOIN keys k ON k.keyid = p.keyid "
            "WHERE p.keyid = ? AND k.appid = ? AND p.policy_name = ?",
            (keyid, appid, name),
        ).fetchone()
        return str(row[0]) if row else None
