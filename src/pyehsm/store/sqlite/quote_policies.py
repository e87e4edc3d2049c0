"""Quote policies (UploadQuotePolicy / GetQuotePolicy)."""

from __future__ import annotations

from pyehsm.store.records import QuotePolicyRecord
from pyehsm.store.rows import QUOTE_POLICY_COLUMNS
from pyehsm.store.sqlite.connection import SqliteBase


class QuotePolicyRows(SqliteBase):
    """The Store's quote-policy methods."""

    async def insert_quote_policy(self, policy: QuotePolicyRecord) -> None:
        self.conn.execute(
            f"INSERT INTO quote_policies ({QUOTE_POLICY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                policy.appid,
                policy.policy_id,
                policy.mr_enclave,
                policy.mr_signer,
                policy.mr_td,
                *policy.rtmrs,
                policy.created_ms,
            ),
        )

    async def get_quote_policy(self, appid: str, policy_id: str) -> QuotePolicyRecord | None:
        row = self.conn.execute(
            f"SELECT {QUOTE_POLICY_COLUMNS} FROM quote_policies WHERE policy_id = ? AND appid = ?",
            (policy_id, appid),
        ).fetchone()
        if row is None:
            return None
        app, pid, mr_enclave, mr_signer, mr_td, rtmr0, rtmr1, rtmr2, rtmr3, created = row
        return QuotePolicyRecord(
            appid=app,
            policy_id=pid,
            mr_enclave=mr_enclave,
            mr_signer=mr_signer,
            mr_td=mr_td,
            rtmrs=(rtmr0, rtmr1, rtmr2, rtmr3),
            created_ms=int(created),
        )
