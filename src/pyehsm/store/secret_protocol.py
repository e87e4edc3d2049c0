"""The Store protocol's secrets-manager operations (services/secrets.py); store/base.py ``Store`` includes it,
both stores implement it."""

from __future__ import annotations

from typing import Protocol

from pyehsm.store.records import SealVersion, SecretRecord, SecretsKeyRecord, SecretVersionInfo, SecretVersionRecord


class SecretStore(Protocol):
    # -- secrets (a secret whose planned deletion is due, planned_delete_ms <= now_ms, counts as gone) ----
    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None: ...

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        """Store the app's default secrets key unless it has one; return the stored one (race-free)."""
        ...

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        """Insert a secret with its first version; False when the app has a live secret of that name."""
        ...

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None: ...

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        """The app's live secrets (all, or the one named), oldest first (then by name)."""
        ...

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        """False unless the secret exists and is not pending deletion."""
        ...

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        """Append the next version of a live secret of ``appid``: holding the secret's row lock, call
        ``seal(latest_version + 1)`` and store the record it returns, in one transaction. Concurrent
        writers of one secret queue on the lock and all succeed, in some order (``seal`` must be quick
        and do no I/O). Returns the new version id; None when the secret is not the app's or not live."""
        ...

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None: ...

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        """Version ids and creation times, newest first."""
        ...

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        """Set (or move) the planned deletion time; False when the secret is gone."""
        ...

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        """Cancel a pending deletion (a no-op for a secret not pending); False when the secret is gone."""
        ...

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        """Remove the secret and all its versions now."""
        ...

    async def purge_secrets(self, now_ms: int) -> int:
        """Remove every secret (all apps) whose planned deletion is due, with its versions, in one statement:
        safe and idempotent when several nodes run it at once. Returns how many were removed."""
        ...
