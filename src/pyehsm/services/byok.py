"""Bring your own key: GetParametersForImport and ImportKeyMaterial (docs/protocol.md section 4, docs/byok.md).

GetParametersForImport gives an external key awaiting material a fresh wrapping key pair (from the key
pool; RSA-2048/3072/4096 or SM2) whose private half is stored wrapped by the domain key, and an import
token (crypto/import_token.py) that names those parameters and is authenticated for the app and key,
valid for 24 hours. A newer request replaces the parameters (the older token stops working).

ImportKeyMaterial checks, in order: the key (unknown or another app's: KeyNotFound; not an
EH_EXTERNAL_KEY; material already imported), the token (authentic for this app and key, not expired,
naming the key's current parameters and their public key), the padding, then unwraps the material and
checks its length and form against the key's keyspec (crypto/key_import.py). Only then is the material
wrapped like generated material and installed, in one transaction that also enables the key and
deletes the import parameters: a second import, or a race with another, fails cleanly.

Each failed unwrap or material check counts against the parameters; after MAX_IMPORT_FAILURES they are
deleted, so nobody can use the wrapping key as a decryption oracle (Bleichenbacher / Manger style
attacks need thousands of queries; a client's honest mistakes need a few). Expired parameters are
deleted by a periodic sweep on every node (``purge_once``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import NoReturn

from pyehsm.clock import Clock
from pyehsm.crypto import import_token, key_import
from pyehsm.crypto.key_import import (
    DecryptionFailed,
    ImportScheme,
    MaterialRejected,
    WrappingKey,
    check_material,
    import_scheme,
)
from pyehsm.crypto.keyspecs import KeySpec, Operation, Origin, keyspec
from pyehsm.errors import (
    ImportedMaterialMismatch,
    ImportedVersionPending,
    ImportTokenExpired,
    ImportTokenInvalid,
    ImportTokenReplaced,
    ImportTokenSpent,
    ImportUnwrapFailed,
    KeyDisabled,
    KeyMaterialAlreadyImported,
    KeyMaterialNotImported,
    KeyNotExternal,
    KeyNotFound,
    KeyNotRotatable,
    KeyPendingDeletion,
)
from pyehsm.keyring.keyring import BYOK_TOKEN_KEY_AAD, BYOK_TOKEN_KEY_META, Keyring, import_key_aad
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.services.keys import KeyService
from pyehsm.store.base import Store
from pyehsm.store.records import ImportParamsRecord, KeyRecord, KeyState, KeyVersionRecord, VersionSource

log = logging.getLogger(__name__)

TOKEN_TTL_MS = 24 * 3600 * 1000
# The DK-wrapped values of BYOK, as keyring/domain_key_rotation.py re-wraps them (one definition, in the keyring):
TOKEN_KEY_META = BYOK_TOKEN_KEY_META  # meta row holding the import-token MAC key
TOKEN_KEY_AAD = BYOK_TOKEN_KEY_AAD
wrapping_key_aad = import_key_aad  # AAD of import_tokens.wrapped_private_key
MAX_IMPORT_FAILURES = 5
EXPIRY_BATCH = 100  # keys the material-expiry sweep handles per query


@dataclass(frozen=True, slots=True)
class Imported:
    """Where ImportKeyMaterial put the material: its key version, its id, and whether that version is primary."""

    version: int
    material_id: str
    primary: bool


@dataclass(frozen=True, slots=True)
class ImportParameters:
    pubkey: str  # PEM of the wrapping key: PKCS#1 for RSA, SubjectPublicKeyInfo for SM2 (as GetPublicKey)
    import_token: str = field(repr=False)


class ByokService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        keys: KeyService,
        pool: KeyPairPool,
        clock: Clock,
        token_ttl_ms: int = TOKEN_TTL_MS,
        max_failures: int = MAX_IMPORT_FAILURES,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._keys = keys
        self._pool = pool
        self._clock = clock
        self._ttl_ms = token_ttl_ms
        self._max_failures = max_failures
        self._token_key_value: bytes | None = None
        self._token_key_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return "<ByokService>"

    # -- GetParametersForImport ---------------------------------------------------------------------
    async def get_parameters_for_import(
        self, appid: str, keyid: str, wrapping: KeySpec, *, new_version: bool = False
    ) -> ImportParameters:
        """``new_version``: the parameters may serve an import into a new version (a key that has material)."""
        record = await self._keys.get(appid, keyid)
        _check_import_target(record, new_version)
        keyid = record.keyid  # an alias names the key here; from now on its keyid
        material = await self._pool.take(wrapping)  # keygen off the event loop when the pool is empty
        try:
            pair = await asyncio.to_thread(WrappingKey, wrapping, material)
            token_id = os.urandom(import_token.TOKEN_ID_BYTES)
            now = self._clock.now_ms()
            params = ImportParamsRecord(
                appid=appid,
                keyid=keyid,
                token_id=token_id.hex(),
                wrapping_keyspec=wrapping.name,
                public_key=pair.spki_der,
                wrapped_private_key=self._keyring.wrap(
                    material, wrapping_key_aad(appid, keyid, token_id.hex(), wrapping.name)
                ),
                created_ms=now,
                expires_ms=now + self._ttl_ms,
            )
        finally:
            del material
        if not await self._store.put_import_params(params):  # scheduled for deletion or deleted meanwhile
            _check_import_target(await self._keys.get(appid, keyid), new_version)
            raise KeyNotFound(keyid)  # pragma: no cover - deleted between the two reads
        token = import_token.issue(
            await self._token_key(), appid, keyid, token_id, params.expires_ms, params.public_key
        )
        return ImportParameters(pair.public_pem, token)

    # -- ImportKeyMaterial ---------------------------------------------------------------------------
    async def import_key_material(
        self,
        appid: str,
        keyid: str,
        padding: str | None,
        key_material: bytes,
        token_text: str,
        *,
        new_version: bool = False,
        make_primary: bool = True,
        expires_ms: int | None = None,
        expected_id: str | None = None,
    ) -> Imported:
        """Import into the key's primary version (its first material, or the same material back after it was
        deleted or expired); with ``new_version``, into a new version of a key that has material (made primary
        unless ``make_primary`` is False: then RotateKey promotes it). ``expires_ms``: the material expires then;
        ``expected_id``: the material must have this id (AWS's KeyMaterialId on a re-import)."""
        record = await self._keys.get(appid, keyid)
        new_version = _check_import_target(record, new_version)
        keyid = record.keyid  # an alias names the key here; from now on its keyid
        params = await self._token_params(appid, keyid, token_text)
        material = await self._unwrap(record, params, padding, key_material)
        try:
            material_id = key_import.material_id(await self._token_key(), keyid, material)
            if expected_id is not None and expected_id != material_id:
                await self._count_failure(params)
                raise ImportedMaterialMismatch(keyid, "not_same")
            if new_version:
                imported = await self._add_version(record, params, material, material_id, make_primary, expires_ms)
            else:
                imported = await self._install(record, params, material, material_id, expires_ms)
        finally:
            del material
        self._keyring.forget(keyid)
        log.info("imported key material into keyid %s (%s) version %d", keyid, record.keyspec, imported.version)
        return imported

    async def _token_params(self, appid: str, keyid: str, token_text: str) -> ImportParamsRecord:
        """The key's import parameters the token names (authentic for this app and key, not expired, current)."""
        try:
            token = import_token.open_token(await self._token_key(), token_text, appid, keyid)
        except import_token.TokenError:
            raise ImportTokenInvalid from None
        if self._clock.now_ms() >= token.expires_ms:
            raise ImportTokenExpired
        params = await self._store.get_import_params(appid, keyid)
        if params is None:
            raise ImportTokenSpent
        if params.token_id != token.token_id.hex():
            raise ImportTokenReplaced
        if import_token.public_key_digest(params.public_key) != token.public_key_sha256:
            raise ImportTokenInvalid  # pragma: no cover - the token id already names these parameters
        return params

    async def _unwrap(
        self, record: KeyRecord, params: ImportParamsRecord, padding: str | None, wrapped: bytes
    ) -> bytes:
        """The material inside ``wrapped``, checked against the key's keyspec; each failure counts."""
        wrapping = keyspec(params.wrapping_keyspec)
        scheme = import_scheme(wrapping, padding)
        aad = wrapping_key_aad(params.appid, params.keyid, params.token_id, params.wrapping_keyspec)
        private = self._keyring.unwrap(params.wrapped_private_key, aad)
        try:
            return await asyncio.to_thread(
                _unwrap_and_check, wrapping, private, wrapped, scheme, keyspec(record.keyspec)
            )
        except DecryptionFailed:
            await self._count_failure(params)
            raise ImportUnwrapFailed from None
        except MaterialRejected:
            await self._count_failure(params)
            raise
        finally:
            del private

    async def _install(
        self, record: KeyRecord, params: ImportParamsRecord, material: bytes, material_id: str, expires_ms: int | None
    ) -> Imported:
        """Into the primary version: the first material, or (after deletion or expiry) the same material back."""
        primary = await self._store.get_key_version(record.appid, record.keyid, record.primary_version)
        deleted = primary is not None and primary.wrapped_material is None and primary.material_id is not None
        if deleted and primary is not None and primary.material_id != material_id:
            await self._count_failure(params)
            raise ImportedMaterialMismatch(record.keyid, "not_same")
        wrapped = self._keyring.wrap_material(KeyService.material_ref(record, record.primary_version), material)
        if not await self._store.install_key_material(
            record.appid, record.keyid, params.token_id, wrapped, material_id, expires_ms
        ):
            # Another request imported, replaced or used up the parameters between our reads and this write.
            _check_import_target(await self._keys.get(record.appid, record.keyid), False)
            await self._raise_token_gone(record)
        return Imported(record.primary_version, material_id, primary=True)

    async def _add_version(
        self,
        record: KeyRecord,
        params: ImportParamsRecord,
        material: bytes,
        material_id: str,
        make_primary: bool,
        expires_ms: int | None,
    ) -> Imported:
        """Into a new version (imported key rotation): material none of the key's versions has."""
        appid, keyid = record.appid, record.keyid
        versions = await self._store.list_key_versions(appid, keyid)
        if versions and versions[-1].version > record.primary_version:
            raise ImportedVersionPending(keyid)
        for v in versions:
            stored = await self._store.get_key_version(appid, keyid, v.version)
            if stored is not None and stored.material_id == material_id:
                await self._count_failure(params)
                raise ImportedMaterialMismatch(keyid, "not_new")
        now = self._clock.now_ms()

        def seal(version: int) -> KeyVersionRecord:
            wrapped = self._keyring.wrap_material(KeyService.material_ref(record, version), material)
            return KeyVersionRecord(
                keyid, version, wrapped, now, source=VersionSource.IMPORTED, material_id=material_id
            )

        added = await self._store.add_imported_key_version(
            appid, keyid, params.token_id, seal, make_primary=make_primary, expires_ms=expires_ms
        )
        if added is None:  # changed meanwhile: the key's state, another import, or the parameters
            current = await self._keys.get(appid, keyid)
            _check_import_target(current, True)
            latest = await self._store.list_key_versions(appid, keyid)
            if latest and latest[-1].version > current.primary_version:
                raise ImportedVersionPending(keyid)
            await self._raise_token_gone(record)
        assert added is not None
        return Imported(added.version, material_id, primary=make_primary)

    async def _raise_token_gone(self, record: KeyRecord) -> NoReturn:
        gone = await self._store.get_import_params(record.appid, record.keyid) is None
        raise ImportTokenSpent if gone else ImportTokenReplaced

    # -- DeleteImportedKeyMaterial --------------------------------------------------------------------
    async def delete_imported_material(self, appid: str, keyid: str, expected_id: str | None = None) -> str:
        """Delete the material of the key's primary version (its id is kept: only the same material can be
        imported again); the key goes to pending_import. Returns the deleted material's id (``expected_id``:
        it must be this one)."""
        record = await self._keys.get(appid, keyid)
        if record.origin != Origin.EXTERNAL.value:
            raise KeyNotExternal(record.keyid)
        if record.state is KeyState.PENDING_IMPORT:
            raise KeyMaterialNotImported(record.keyid)
        version = await self._store.get_key_version(appid, record.keyid, record.primary_version)
        if version is None or version.wrapped_material is None:
            raise KeyMaterialNotImported(record.keyid)  # pragma: no cover - deleted between the two reads
        material_id = version.material_id
        if material_id is None:  # imported before material ids existed: compute it from the material itself
            material = self._keyring.unwrap_material(
                KeyService.material_ref(record, version.version), version.wrapped_material
            )
            material_id = key_import.material_id(await self._token_key(), record.keyid, material)
            del material
        if expected_id is not None and expected_id != material_id:
            raise ImportedMaterialMismatch(record.keyid, "not_same")
        if not await self._store.delete_key_material(appid, record.keyid, material_id):
            raise KeyMaterialNotImported(record.keyid)
        self._keyring.forget(record.keyid)
        log.info("deleted the imported key material of keyid %s (version %d)", record.keyid, version.version)
        return material_id

    async def _count_failure(self, params: ImportParamsRecord) -> None:
        usable = await self._store.count_import_failure(params.appid, params.keyid, params.token_id, self._max_failures)
        if not usable:
            log.warning(
                "import parameters of keyid %s deleted after %d failed imports", params.keyid, self._max_failures
            )

    # -- sweep ----------------------------------------------------------------------------------------
    async def expire_material_once(self) -> int:
        """Delete the material of every key (all apps) whose imported material has expired (keys go back to
        pending_import; KeyService does the same for a key it reads first). Returns how many keys."""
        expired = 0
        while True:
            due = await self._store.expire_key_material(self._clock.now_ms(), EXPIRY_BATCH)
            for _, keyid in due:
                self._keyring.forget(keyid)
            expired += len(due)
            if len(due) < EXPIRY_BATCH:
                break
        if expired:
            log.info("deleted the expired imported key material of %d key(s)", expired)
        return expired

    async def purge_once(self) -> int:
        """Delete every expired set of import parameters (all apps). Returns how many."""
        purged = await self._store.purge_import_params(self._clock.now_ms())
        if purged:
            log.info("swept %d expired set(s) of import parameters", purged)
        return purged

    # -- the token key ----------------------------------------------------------------------------------
    async def _token_key(self) -> bytes:
        """The MAC key of import tokens: random, kept in meta wrapped by the domain key, shared by every node."""
        if self._token_key_value is not None:
            return self._token_key_value
        async with self._token_key_lock:
            if self._token_key_value is None:
                stored = await self._store.get_meta(TOKEN_KEY_META)
                if stored is None:
                    candidate = self._keyring.wrap(os.urandom(import_token.TOKEN_KEY_BYTES), TOKEN_KEY_AAD)
                    stored = await self._store.insert_meta_if_absent(TOKEN_KEY_META, candidate)
                self._token_key_value = self._keyring.unwrap(stored, TOKEN_KEY_AAD)
            return self._token_key_value


def _check_import_target(record: KeyRecord, new_version: bool) -> bool:
    """Whether the import goes into a new version: ``new_version`` asked for a key that has material (a key
    awaiting material takes the normal import whatever it asks). The key's refusals otherwise."""
    if record.origin != Origin.EXTERNAL.value:
        raise KeyNotExternal(record.keyid)
    if record.state is KeyState.PENDING_DELETION:
        raise KeyPendingDeletion(record.keyid)
    if record.state is KeyState.PENDING_IMPORT:
        return False
    if not new_version:
        raise KeyMaterialAlreadyImported(record.keyid)
    spec = keyspec(record.keyspec)
    if not (spec.symmetric and spec.supports(Operation.ENCRYPT)):  # as RotateKey: asymmetric and HMAC keys
        raise KeyNotRotatable(record.keyid, record.keyspec, "not_symmetric")
    if record.state is KeyState.DISABLED:
        raise KeyDisabled(record.keyid)
    return True


def _unwrap_and_check(
    wrapping: KeySpec, private: bytes, key_material: bytes, scheme: ImportScheme, target: KeySpec
) -> bytes:
    """The material to install (runs on a worker thread: RSA decryption and key validation take milliseconds)."""
    return check_material(target, WrappingKey(wrapping, private).unwrap(key_material, scheme))
