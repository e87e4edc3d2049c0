"""Key versions of symmetric encryption keys: rotation (on demand and automatic), the minimum decryption
version, and ReEncrypt (docs/key-rotation.md).

RotateKey adds a version with fresh material and makes it primary; Encrypt and GenerateDataKey use the
primary, Decrypt the version its ciphertext names (services/symmetric.py), so every earlier ciphertext still
decrypts. Only AES-GCM and SM4 keys have versions: asymmetric and HMAC keys (whose signatures and MACs name
no version) are refused; keys with imported material rotate by importing new material into a new version
(services/byok.py), which RotateKey makes primary when the import did not. Automatic rotation: the key
row holds its period and next rotation time; ``rotate_due_once`` (the background job, every node) rotates
each due key through the store's atomic due-check, so several nodes on one database add exactly one
version between them. Every version's material is kept until the key is deleted: raising the minimum
decryption version refuses older ciphertexts, lowering it restores them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pyehsm.clock import DAY_MS, Clock
from pyehsm.crypto.blob import split_keyed, unpack
from pyehsm.crypto.keyspecs import KeySpec, Operation, Origin, keyspec
from pyehsm.errors import (
    DestinationKeyUnusable,
    DomainError,
    KeyDisabled,
    KeyMaterialNotImported,
    KeyNotFound,
    KeyNotRotatable,
    KeyPendingDeletion,
    OutOfRange,
)
from pyehsm.keyring.keyring import Keyring
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.services.asymmetric import AsymmetricService
from pyehsm.services.keys import KeyService
from pyehsm.services.release_grant import ReleaseGrant
from pyehsm.services.symmetric import SymmetricService
from pyehsm.store.base import Store
from pyehsm.store.records import KeyRecord, KeyState, KeyVersionInfo, KeyVersionRecord, VersionSource

log = logging.getLogger(__name__)

MIN_ROTATION_DAYS = 90  # AWS KMS's range for RotationPeriodInDays
MAX_ROTATION_DAYS = 2560
DUE_BATCH = 100  # keys the rotation job reads per query


@dataclass(frozen=True, slots=True)
class KeyVersions:
    """A key's versions (oldest first) with the key row that says which is primary and which are retired."""

    key: KeyRecord
    versions: list[KeyVersionInfo]


@dataclass(frozen=True, slots=True)
class ReEncrypted:
    ciphertext: bytes
    source_version: int  # the key version that made the given ciphertext
    version: int  # the destination key's version that made the new one (its primary)
    source_keyid: str = ""  # the two keys' ids (the request may have named them by alias)
    keyid: str = ""


@dataclass(frozen=True, slots=True)
class PublicKeyScheme:
    """One side of a ReEncrypt under an asymmetric key: the padding its family takes (None: SM2)."""

    padding: str | None


class RotationService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        keys: KeyService,
        symmetric: SymmetricService,
        asymmetric: AsymmetricService,
        pool: KeyPairPool,
        clock: Clock,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._keys = keys
        self._symmetric = symmetric
        self._asymmetric = asymmetric
        self._pool = pool
        self._clock = clock

    def __repr__(self) -> str:
        return "<RotationService>"

    async def rotate(self, appid: str, keyid: str) -> KeyVersionInfo:
        """RotateKey: a new version with fresh material, made primary. A key with imported material rotates to
        the new material imported for it (ImportKeyMaterial into a new version not made primary, as AWS's
        NEW_KEY_MATERIAL then RotateKeyOnDemand); without such material it is refused."""
        found = await self._keys.get(appid, keyid)
        if found.origin == Origin.EXTERNAL.value and found.state is KeyState.ENABLED:
            promoted = await self._store.promote_key_version(appid, found.keyid)
            if promoted is not None:
                version = await self._store.get_key_version(appid, found.keyid, promoted)
                if version is not None:
                    return _info(version)
        record, spec = await self._versioned(appid, keyid)
        if record.state is KeyState.DISABLED:
            raise KeyDisabled(keyid)
        added = await self._add_version(record, spec, VersionSource.ON_DEMAND, due_ms=None)
        if added is None:  # deleted meanwhile
            raise KeyNotFound(keyid)
        return _info(added)

    async def set_rotation(self, appid: str, keyid: str, period_days: int | None) -> KeyRecord:
        """UpdateKeyRotation: rotate every ``period_days`` days from now on (None or 0: off)."""
        if period_days is not None and period_days != 0 and not MIN_ROTATION_DAYS <= period_days <= MAX_ROTATION_DAYS:
            raise OutOfRange("rotationPeriodInDays", MIN_ROTATION_DAYS, MAX_ROTATION_DAYS)
        record, _ = await self._versioned(appid, keyid)
        period = period_days or None
        next_ms = self._clock.now_ms() + period * DAY_MS if period is not None else None
        if not await self._store.set_key_rotation(appid, record.keyid, period, next_ms):
            raise KeyNotFound(keyid)
        return await self._keys.get(appid, record.keyid)

    async def rotation_of(self, appid: str, keyid: str) -> KeyRecord:
        """GetKeyRotationStatus: the key row (its period and next rotation time), for a key that has versions."""
        record, _ = await self._versioned(appid, keyid)
        return record

    async def list_versions(self, appid: str, keyid: str) -> KeyVersions:
        """ListKeyRotations: every version of any of the app's keys (non-symmetric keys have only version 1)."""
        record = await self._keys.get(appid, keyid)
        return KeyVersions(record, await self._store.list_key_versions(appid, record.keyid))

    async def set_min_decryption_version(self, appid: str, keyid: str, minimum: int) -> KeyRecord:
        """UpdateKeyVersionPolicy: refuse ciphertexts of versions below ``minimum`` (1 .. the primary)."""
        record, _ = await self._versioned(appid, keyid)
        if not 1 <= minimum <= record.primary_version:
            raise OutOfRange("minDecryptionVersion", 1, record.primary_version)
        if not await self._store.set_min_decryption_version(appid, record.keyid, minimum):
            raise KeyNotFound(keyid)
        return await self._keys.get(appid, keyid)

    async def reencrypt(
        self,
        appid: str,
        keyid: str,
        ciphertext: bytes,
        aad: bytes,
        destination: str,
        destination_aad: bytes,
        *,
        source_scheme: PublicKeyScheme | None = None,
        destination_scheme: PublicKeyScheme | None = None,
        keyed: bool = False,
    ) -> ReEncrypted:
        """ReEncrypt: decrypt under ``keyid`` and encrypt under ``destination``'s primary, inside the server.

        A side with a ``PublicKeyScheme`` is an asymmetric key (RSA, SM2: its private key decrypts, its public
        key encrypts; no AAD); without one, a symmetric key (AAD authenticated). ``keyed``: a symmetric result
        in the keyed form. The source key's refusals come first and as Decrypt's; the destination's are
        wrapped in DestinationKeyUnusable so the caller knows which key is meant. From a key with a release
        policy, only into a key with the same policy (services/release_grant.py)."""
        op = Operation.ENCRYPT if source_scheme is None else Operation.ASYMMETRIC_ENCRYPT
        source, _ = await self._keys.resolve(appid, keyid, op)
        try:
            target, seal = await self._sealer(appid, destination, destination_scheme, keyed)
        except DomainError as exc:
            raise DestinationKeyUnusable(exc) from None
        grant = None
        if source.release_policy is not None:
            grant = ReleaseGrant.for_reencryption(source, target)
        if source_scheme is None:
            plaintext = await self._symmetric.decrypt(appid, source.keyid, ciphertext, aad, grant)
            source_version = unpack(split_keyed(ciphertext)[1]).key_version
        else:
            plaintext = await self._asymmetric.decrypt(appid, source.keyid, ciphertext, source_scheme.padding, grant)
            source_version = source.primary_version  # key pairs have one version
        try:
            result = await seal(plaintext, destination_aad)
        except DomainError as exc:  # the plaintext does not fit the destination's public-key scheme
            raise DestinationKeyUnusable(exc) from None
        finally:
            del plaintext
        version = target.primary_version if destination_scheme else unpack(split_keyed(result)[1]).key_version
        return ReEncrypted(result, source_version, version, source.keyid, target.keyid)

    async def _sealer(
        self, appid: str, destination: str, scheme: PublicKeyScheme | None, keyed: bool
    ) -> tuple[KeyRecord, Callable[[bytes, bytes], Awaitable[bytes]]]:
        """The destination key (resolved: its refusals raised here) and how it encrypts (plaintext, aad)."""
        if scheme is None:
            target, _ = await self._keys.resolve(appid, destination, Operation.ENCRYPT)
            encrypt = await self._symmetric.encrypter(appid, target.keyid, keyed=keyed)

            async def symmetric(plaintext: bytes, aad: bytes) -> bytes:
                return encrypt(plaintext, aad)

            return target, symmetric
        target, _ = await self._keys.resolve(appid, destination, Operation.ASYMMETRIC_ENCRYPT)

        async def public_key(plaintext: bytes, aad: bytes) -> bytes:
            return await self._asymmetric.encrypt(appid, target.keyid, plaintext, scheme.padding)

        return target, public_key

    async def rotate_due_once(self) -> int:
        """One pass of the automatic-rotation job: rotate every key whose next rotation time has come.

        Safe on every node at once: the store adds a version only while the key is still due (and moves its
        next rotation time in the same transaction), so a key due once gains exactly one version.
        Returns how many versions this node added."""
        now = self._clock.now_ms()
        rotated = 0
        while True:
            due = await self._store.list_due_rotations(now, DUE_BATCH)
            before = rotated
            for record in due:
                try:
                    spec = keyspec(record.keyspec)
                    added = await self._add_version(record, spec, VersionSource.AUTOMATIC, due_ms=now)
                except Exception:  # one key's failure must not stop the others; the next pass retries it
                    log.exception("automatic rotation of key %s failed", record.keyid)
                    continue
                rotated += added is not None
            if len(due) < DUE_BATCH or rotated == before:  # done, or a full batch this node cannot move
                break
        if rotated:
            log.info("rotated %d key(s) whose rotation period had passed", rotated)
        return rotated

    async def _versioned(self, appid: str, keyid: str) -> tuple[KeyRecord, KeySpec]:
        """The app's key, checked to be one that has versions (a symmetric encryption key made by pyehsm)."""
        record = await self._keys.get(appid, keyid)
        spec = keyspec(record.keyspec)
        if not (spec.symmetric and spec.supports(Operation.ENCRYPT)):
            raise KeyNotRotatable(keyid, record.keyspec, "not_symmetric")
        if record.origin == Origin.EXTERNAL.value:
            raise KeyNotRotatable(keyid, record.keyspec, "external")
        if record.state is KeyState.PENDING_IMPORT:  # pragma: no cover - only external keys await material
            raise KeyMaterialNotImported(keyid)
        if record.state is KeyState.PENDING_DELETION:  # refused for every operation until cancelled
            raise KeyPendingDeletion(record.keyid)
        return record, spec

    async def _add_version(
        self, record: KeyRecord, spec: KeySpec, source: VersionSource, due_ms: int | None
    ) -> KeyVersionRecord | None:
        material = await self._pool.take(spec)
        now = self._clock.now_ms()

        def seal(version: int) -> KeyVersionRecord:
            wrapped = self._keyring.wrap_material(KeyService.material_ref(record, version), material)
            return KeyVersionRecord(record.keyid, version, wrapped, now, source=source)

        return await self._store.add_key_version(record.appid, record.keyid, seal, make_primary=True, due_ms=due_ms)


def _info(version: KeyVersionRecord) -> KeyVersionInfo:
    return KeyVersionInfo(
        version.version, version.created_ms, version.state, version.source, version.wrapped_material is not None
    )
