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

from pyehsm.clock import Clock
from pyehsm.crypto import import_token
from pyehsm.crypto.key_import import (
    DecryptionFailed,
    ImportScheme,
    MaterialRejected,
    WrappingKey,
    check_material,
    import_scheme,
)
from pyehsm.crypto.keyspecs import KeySpec, Origin, keyspec
from pyehsm.errors import (
    ImportTokenExpired,
    ImportTokenInvalid,
    ImportTokenReplaced,
    ImportTokenSpent,
    ImportUnwrapFailed,
    KeyMaterialAlreadyImported,
    KeyNotExternal,
    KeyPendingDeletion,
)
from pyehsm.keyring.keyring import BYOK_TOKEN_KEY_AAD, BYOK_TOKEN_KEY_META, Keyring, import_key_aad
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.services.keys import KeyService
from pyehsm.store.base import Store
from pyehsm.store.records import ImportParamsRecord, KeyRecord, KeyState

log = logging.getLogger(__name__)

TOKEN_TTL_MS = 24 * 3600 * 1000
# The DK-wrapped values of BYOK, as keyring/domain_key_rotation.py re-wraps them (one definition, in the keyring):
TOKEN_KEY_META = BYOK_TOKEN_KEY_META  # meta row holding the import-token MAC key
TOKEN_KEY_AAD = BYOK_TOKEN_KEY_AAD
wrapping_key_aad = import_key_aad  # AAD of import_tokens.wrapped_private_key
MAX_IMPORT_FAILURES = 5


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
    async def get_parameters_for_import(self, appid: str, keyid: str, wrapping: KeySpec) -> ImportParameters:
        record = await self._keys.get(appid, keyid)
        _check_awaiting_material(record)
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
        if not await self._store.put_import_params(params):  # imported or deleted meanwhile
            _check_awaiting_material(await self._keys.get(appid, keyid))
            raise KeyMaterialAlreadyImported(keyid)
        token = import_token.issue(
            await self._token_key(), appid, keyid, token_id, params.expires_ms, params.public_key
        )
        return ImportParameters(pair.public_pem, token)

    # -- ImportKeyMaterial ---------------------------------------------------------------------------
    async def import_key_material(
        self, appid: str, keyid: str, padding: str | None, key_material: bytes, token_text: str
    ) -> None:
        record = await self._keys.get(appid, keyid)
        _check_awaiting_material(record)
        keyid = record.keyid  # an alias names the key here; from now on its keyid
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
        wrapping = keyspec(params.wrapping_keyspec)
        target = keyspec(record.keyspec)
        scheme = import_scheme(wrapping, padding)
        private = self._keyring.unwrap(
            params.wrapped_private_key, wrapping_key_aad(appid, keyid, params.token_id, params.wrapping_keyspec)
        )
        try:
            material = await asyncio.to_thread(_unwrap_and_check, wrapping, private, key_material, scheme, target)
        except DecryptionFailed:
            await self._count_failure(params)
            raise ImportUnwrapFailed from None
        except MaterialRejected:
            await self._count_failure(params)
            raise
        finally:
            del private
        wrapped = self._keyring.wrap_material(KeyService.material_ref(record, 1), material)
        del material
        if not await self._store.install_key_material(appid, keyid, params.token_id, wrapped):
            # Another request imported, replaced or used up the parameters between our reads and this write.
            _check_awaiting_material(await self._keys.get(appid, keyid))
            gone = await self._store.get_import_params(appid, keyid) is None
            raise ImportTokenSpent if gone else ImportTokenReplaced
        self._keyring.forget(keyid)
        log.info("imported key material into keyid %s (%s)", keyid, record.keyspec)

    async def _count_failure(self, params: ImportParamsRecord) -> None:
        usable = await self._store.count_import_failure(params.appid, params.keyid, params.token_id, self._max_failures)
        if not usable:
            log.warning(
                "import parameters of keyid %s deleted after %d failed imports", params.keyid, self._max_failures
            )

    # -- sweep ----------------------------------------------------------------------------------------
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


def _check_awaiting_material(record: KeyRecord) -> None:
    if record.origin != Origin.EXTERNAL.value:
        raise KeyNotExternal(record.keyid)
    if record.state is KeyState.PENDING_DELETION:
        raise KeyPendingDeletion(record.keyid)
    if record.state is not KeyState.PENDING_IMPORT:
        raise KeyMaterialAlreadyImported(record.keyid)


def _unwrap_and_check(
    wrapping: KeySpec, private: bytes, key_material: bytes, scheme: ImportScheme, target: KeySpec
) -> bytes:
    """The material to install (runs on a worker thread: RSA decryption and key validation take milliseconds)."""
    return check_material(target, WrappingKey(wrapping, private).unwrap(key_material, scheme))
