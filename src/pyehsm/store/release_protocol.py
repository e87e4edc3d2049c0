"""The Store methods of attestation-gated key release (docs/key-release.md); part of the Store protocol
(store/base.py), kept here so each module stays small. Implementations: store/sqlite/release.py and
store/postgres/release.py."""

from __future__ import annotations

from typing import Protocol


class ReleaseStore(Protocol):
    async def set_key_release_policy(self, appid: str, keyid: str, policy: str | None, expected: str | None) -> bool:
        """Set (``policy``: canonical JSON) or remove (None) the release policy of the app's key if its current
        policy is still ``expected`` (compare and set); False when the app has no such key or the policy
        changed meanwhile. PostgreSQL notifies 'k:<keyid>' so every node's row cache drops the key."""
        ...

    async def set_secret_release_policy(
        self, appid: str, secret_id: str, policy: str | None, expected: str | None, now_ms: int
    ) -> bool:
        """Set or remove the release policy of the app's live secret (not pending deletion) if it is still
        ``expected``; False otherwise."""
        ...

    async def insert_attestation_nonce(self, appid: str, nonce: str, expires_ms: int, now_ms: int, limit: int) -> bool:
        """Store a new single-use nonce (hex) of ``appid`` valid until ``expires_ms``, after deleting every
        app's expired nonces; False, nothing stored, when the app already holds ``limit`` live nonces."""
        ...

    async def consume_attestation_nonce(self, appid: str, nonce: str, now_ms: int) -> bool:
        """Delete the app's nonce if it is live at ``now_ms``: True for exactly one caller (atomic, across
        every node on one database); False for an unknown, expired, spent or another app's nonce."""
        ...
