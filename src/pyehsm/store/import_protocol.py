"""The Store protocol's BYOK operations: import parameters, imported material and versions (services/byok.py);
store/base.py ``Store`` includes it, both stores implement it."""

from __future__ import annotations

from typing import Protocol

from pyehsm.store.records import ImportParamsRecord, KeyVersionRecord, SealKeyVersion


class ImportStore(Protocol):
    # -- BYOK import parameters (table import_tokens; services/byok.py) --------------------------------
    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        """Store ``params`` as the key's import parameters, replacing any earlier ones (failures reset),
        but only while the app's key ``params.keyid`` has origin EH_EXTERNAL_KEY and is not pending deletion
        (the service checks the rest: a key with material takes parameters for an import into a new
        version); False, nothing written, otherwise. One statement (INSERT ... SELECT ... WHERE EXISTS ...
        ON CONFLICT (keyid) DO UPDATE)."""
        ...

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        """The key's import parameters; None when there are none or the key belongs to another app."""
        ...

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        """One failed ImportKeyMaterial with the parameters ``token_id``: add 1 to their failures and delete
        them once ``max_failures`` is reached, in one transaction. True while they stay usable."""
        ...

    async def install_key_material(
        self,
        appid: str,
        keyid: str,
        token_id: str,
        wrapped_material: bytes,
        material_id: str | None = None,
        expires_ms: int | None = None,
    ) -> bool:
        """Finish an import into the key's primary version in ONE transaction: delete the import parameters
        ``token_id``, set the primary version's material (only while it has none, and only when its
        material_id is NULL, a first import, or equals ``material_id``, a re-import of deleted or expired
        material) and its material_id, move the key pending_import -> enabled and set material_expires_ms to
        ``expires_ms``. If any step changes no row, roll back and return False. A key-row change (PostgreSQL
        notifies 'k:<keyid>'; the row cache evicts it)."""
        ...

    async def add_imported_key_version(
        self, appid: str, keyid: str, token_id: str, seal: SealKeyVersion, *, make_primary: bool, expires_ms: int | None
    ) -> KeyVersionRecord | None:
        """Import new material into a new version, atomically: as add_key_version (``seal(latest + 1)`` under the
        key's row lock), and in the same transaction delete the import parameters ``token_id`` and set the key's
        material_expires_ms to ``expires_ms``; only while the key is enabled and no version above the primary
        waits (``make_primary`` False leaves the new one waiting for promote_key_version). None, nothing
        written, otherwise."""
        ...

    async def promote_key_version(self, appid: str, keyid: str) -> int | None:
        """Make the key's latest version primary when it is above the primary (imported material waiting, see
        add_imported_key_version) and has material; the new primary, or None when none waits."""
        ...

    async def delete_key_material(self, appid: str, keyid: str, material_id: str) -> bool:
        """DeleteImportedKeyMaterial: in one transaction, delete the material of the key's primary version
        (keeping its material_id, set to ``material_id`` when NULL), clear material_expires_ms and move the key
        to pending_import (a key pending deletion stays so). False when the primary version has no material."""
        ...

    async def expire_key_material(self, now_ms: int, limit: int, keyid: str | None = None) -> list[tuple[str, str]]:
        """As delete_key_material for up to ``limit`` keys (all apps; only ``keyid`` when given) whose
        material_expires_ms <= ``now_ms``; (appid, keyid) of each. Each due key is expired exactly once when
        several nodes run it at once. Tenant-wide by design (the byok sweep)."""
        ...

    async def purge_import_params(self, now_ms: int) -> int:
        """Delete every app's import parameters with ``expires_ms <= now_ms`` in one statement (safe and
        idempotent when several nodes run it at once). Returns how many were deleted."""
        ...
