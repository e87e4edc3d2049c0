"""The secrets manager: named, versioned secret values per app, envelope-encrypted, with a recovery window.

Every version of a value is sealed with AES-256-GCM under a fresh 32-byte data key; the data key is
wrapped by the secret's CMK (through SymmetricService, so the key's state rules apply: a disabled key
makes the secret unreadable until it is enabled again) or, when CreateSecret names none, by the app's
default secrets key. Both seals carry the AAD ``pyehsm:secret:v1|appid|secret_id|version``, so a stored
version cannot be moved to another app, secret or version number.

The default secrets key is created on first use (race-free: insert-if-absent) and lives in its own
table, wrapped by the domain key: no key action can list, use, disable or delete it.

DeleteSecret without forceDelete sets a planned deletion time; from then on the secret refuses
UpdateSecretDesc/PutSecretValue/GetSecretValue until RestoreSecret. Once the time has passed the secret
is treated as gone at once (whether or not the purge has run), and ``purge_once`` removes such secrets
with their versions in a single statement, so several nodes may run it at the same time.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pyehsm.clock import DAY_MS, HOUR_MS, MINUTE_MS, Clock
from pyehsm.crypto import aead, symmetric
from pyehsm.crypto.blob import BlobFormatError, unpack
from pyehsm.errors import (
    DecryptionFailed,
    InternalFailure,
    InvalidCiphertext,
    KeyDisabled,
    KeyMaterialNotImported,
    KeyNotFound,
    KeyVersionNotFound,
    MalformedParameter,
    NotABoolean,
    OperationNotSupported,
    OutOfRange,
    ParametersDisagree,
    SecretBusy,
    SecretChange,
    SecretDeleted,
    SecretKeyGone,
    SecretKeyUnusable,
    SecretNameTaken,
    SecretNotFound,
    SecretVersionNotFound,
    UsageNotAllowed,
)
from pyehsm.keyring.keyring import Keyring
from pyehsm.services.keys import ALIAS_PREFIX
from pyehsm.services.release_grant import ReleaseGrant, require_secret_release
from pyehsm.services.symmetric import SymmetricService
from pyehsm.store.base import Store
from pyehsm.store.records import SecretRecord, SecretsKeyRecord, SecretVersionInfo, SecretVersionRecord

log = logging.getLogger("pyehsm.secrets")

# -- wire limits and messages (docs/protocol.md section 5) ----------------------------------------------------
MAX_NAME_CHARS = 64
MAX_DATA_CHARS = 4096
MAX_DESCRIPTION_CHARS = 4096
DEFAULT_ROTATION_INTERVAL = "30d"
MIN_ROTATION_MS = 6 * HOUR_MS
MAX_ROTATION_MS = 8760 * HOUR_MS
DEFAULT_RECOVERY_DAYS = 30
MIN_RECOVERY_DAYS = 1
MAX_RECOVERY_DAYS = 365
LIST_LIMIT = 4000  # the reference: "Maximum 4000 line"

# The secret's own key is gone, or refuses to be used (the caller did not name it in this request):
_KEY_GONE = (KeyNotFound, KeyVersionNotFound)
_KEY_REFUSED = (KeyDisabled, KeyMaterialNotImported, OperationNotSupported, UsageNotAllowed)

DATA_KEY_BYTES = 32
_PUT_ATTEMPTS = 8
_ROTATION = re.compile(r"([0-9]{1,4})([dhms])")  # ASCII digits only (\d would accept any Unicode digit)
_UNIT_MS = {"d": DAY_MS, "h": HOUR_MS, "m": MINUTE_MS, "s": 1000}


# -- pure rules ------------------------------------------------------------------------------------------
def rotation_interval_ms(text: str) -> int:
    """The length of a rotationInterval such as ``30d``; a domain error for a bad format or range."""
    match = _ROTATION.fullmatch(text)
    if match is None:
        raise MalformedParameter("rotationInterval")
    interval = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if not MIN_ROTATION_MS <= interval <= MAX_ROTATION_MS:
        raise OutOfRange("rotationInterval", MIN_ROTATION_MS // HOUR_MS, MAX_ROTATION_MS // HOUR_MS)
    return interval


def next_rotation_ms(record: SecretRecord) -> int:
    """Last rotation (a PutSecretValue) or creation, plus the rotation interval."""
    base = record.last_rotation_ms or record.created_ms
    return base + rotation_interval_ms(record.rotation_interval)


def parse_force_delete(value: object) -> bool | None:
    """forceDelete as sent: "true"/"false" (any case; booleans too), None or "" when absent."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise NotABoolean("forceDelete")


def force_delete_flag(force_delete: object, force_delete_sdk: object) -> bool:
    """Combine ``forceDelete`` (reference) and ``force_delete`` (Python SDK); default false."""
    first, second = parse_force_delete(force_delete), parse_force_delete(force_delete_sdk)
    if first is not None and second is not None and first != second:
        raise ParametersDisagree("forceDelete", "force_delete")
    return bool(first if first is not None else second)


def value_aad(appid: str, secret_id: str, version: int) -> bytes:
    """Binds a sealed value and its wrapped data key to one app, secret and version."""
    return f"pyehsm:secret:v1|{appid}|{secret_id}|{version}".encode()


def secrets_key_aad(appid: str, keyid: str) -> bytes:
    """Binds a wrapped default secrets key to its app (distinct from any CMK's AAD)."""
    return f"pyehsm:secrets-key:v1|{appid}|{keyid}".encode()


def seal_value(data_key: bytes, value: bytes, aad: bytes) -> bytes:
    return aead.seal(aead.new_aesgcm(data_key), value, aad)


def open_value(data_key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Raises aead.AuthenticationFailed on any mismatch (wrong key, aad or a modified value)."""
    return aead.open_sealed(aead.new_aesgcm(data_key), sealed, aad)


def encode_value(text: str) -> bytes:
    # surrogatepass: a JSON string may carry a lone surrogate; it must round-trip, not fail.
    return text.encode("utf-8", "surrogatepass")


def decode_value(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


WrapDataKey = Callable[[bytes, bytes], bytes]  # (data key, aad) -> the data key wrapped by the secret's key


def seal_version(record: SecretRecord, version: int, value: bytes, now: int, wrap: WrapDataKey) -> SecretVersionRecord:
    """Version ``version`` of ``record`` holding ``value``: sealed under a fresh data key, which ``wrap``
    wraps; both bound to (app, secret, version). Pure computation: stores call it under a row lock."""
    aad = value_aad(record.appid, record.secret_id, version)
    data_key = os.urandom(DATA_KEY_BYTES)
    try:
        sealed = seal_value(data_key, value, aad)
        wrapped = wrap(data_key, aad)
    finally:
        del data_key
    return SecretVersionRecord(record.secret_id, version, wrapped, sealed, now)


@dataclass(frozen=True, slots=True)
class SecretValue:
    name: str
    data: str
    version: int
    created_ms: int

    def __repr__(self) -> str:
        return f"<SecretValue version={self.version}>"  # never the value


class SecretService:
    def __init__(self, store: Store, keyring: Keyring, symmetric_service: SymmetricService, clock: Clock) -> None:
        self._store = store
        self._keyring = keyring
        self._symmetric = symmetric_service
        self._clock = clock

    def __repr__(self) -> str:
        return "<SecretService>"

    # -- actions -------------------------------------------------------------------------------------
    async def create(
        self,
        appid: str,
        name: str,
        data: str,
        *,
        encryption_keyid: str | None = None,
        description: str = "",
        rotation_interval: str | None = None,
        release_policy: str | None = None,
    ) -> SecretRecord:
        interval = rotation_interval or DEFAULT_ROTATION_INTERVAL
        rotation_interval_ms(interval)
        now = self._clock.now_ms()
        if await self._store.get_secret(appid, name, now) is not None:
            raise SecretNameTaken(name)
        if encryption_keyid and encryption_keyid.startswith(ALIAS_PREFIX):
            # An alias names the key at creation only: the secret keeps that key even if the alias moves,
            # so every version stays readable (the key's usability is checked by _seal below).
            pinned = await self._store.get_alias(appid, encryption_keyid)
            if pinned is None:
                raise KeyNotFound(encryption_keyid)
            encryption_keyid = pinned
        record = SecretRecord(
            appid=appid,
            secret_id=str(uuid.uuid4()),
            name=name,
            description=description,
            encryption_keyid=encryption_keyid or None,
            rotation_interval=interval,
            created_ms=now,
            updated_ms=now,
            last_rotation_ms=0,
            latest_version=1,
            planned_delete_ms=None,
            release_policy=release_policy,
        )
        # The CMK is checked here (exists for this app, enabled, symmetric, ENCRYPT_DECRYPT): its errors
        # (KeyNotFound, KeyDisabled, ...) are about the encryptionKeyId the caller just named.
        version = await self._seal(record, 1, data, now)
        if not await self._store.insert_secret(record, version, now):
            raise SecretNameTaken(name)
        return record

    async def update_description(self, appid: str, name: str, description: str) -> None:
        record = await self._live(appid, name, "modify")
        if not await self._store.update_secret_description(appid, record.secret_id, description, self._clock.now_ms()):
            await self._live(appid, name, "modify")  # raises: it was deleted meanwhile
            raise SecretBusy(name)  # pragma: no cover - a live secret's update cannot miss

    async def put_value(self, appid: str, name: str, data: str) -> int:
        """Store ``data`` as the next version; return its version id. Concurrent puts on one secret all
        succeed, in some order: the version id (bound into the seals' AAD) is chosen and the value sealed
        while the store holds the secret's row lock; the key is resolved before, outside the lock."""
        for _ in range(_PUT_ATTEMPTS):
            record = await self._live(appid, name, "put")
            wrap = await self._data_key_wrapper(record, reusing_key=True)
            now = self._clock.now_ms()
            seal = functools.partial(seal_version, record, value=encode_value(data), now=now, wrap=wrap)
            added = await self._store.add_secret_version(appid, record.secret_id, now, seal)
            if added is not None:
                return added
            # deleted meanwhile (the next _live says so), or replaced by a new secret of the same name
        raise SecretBusy(name)  # pragma: no cover - needs a secret deleted and re-created _PUT_ATTEMPTS times

    async def get_value(
        self, appid: str, name: str, version_id: int | None = None, grant: ReleaseGrant | None = None
    ) -> SecretValue:
        """A version's value; a secret (or secret key) with a release policy needs the request's ``grant``."""
        record = await self._live(appid, name, "get")
        require_secret_release(record, grant)
        version = await self._store.get_secret_version(appid, record.secret_id, version_id or record.latest_version)
        if version is None:
            raise SecretVersionNotFound(name, version_id or record.latest_version)
        value = await self._open(record, version, grant)
        return SecretValue(record.name, value, version.version, version.created_ms)

    async def describe(self, appid: str, name: str) -> SecretRecord:
        return await self._find(appid, name)

    async def list_secrets(self, appid: str, name: str | None = None) -> list[SecretRecord]:
        return await self._store.list_secrets(appid, name, self._clock.now_ms(), LIST_LIMIT)

    async def list_versions(self, appid: str, name: str) -> tuple[SecretRecord, list[SecretVersionInfo]]:
        record = await self._find(appid, name)
        return record, await self._store.list_secret_versions(appid, record.secret_id, LIST_LIMIT)

    async def delete(self, appid: str, name: str, *, recovery_days: int | None = None, force: bool = False) -> int:
        """Delete now (force) or schedule the deletion; return the planned deletion time (0 when forced)."""
        record = await self._find(appid, name)
        if force:
            if not await self._store.delete_secret(appid, record.secret_id):
                raise SecretNotFound(name)
            return 0
        days = DEFAULT_RECOVERY_DAYS if recovery_days is None else recovery_days
        if not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:  # the payload Struct checks this too
            raise OutOfRange("recoveryPeriod", MIN_RECOVERY_DAYS, MAX_RECOVERY_DAYS)
        now = self._clock.now_ms()
        planned = now + days * DAY_MS
        if not await self._store.schedule_secret_deletion(appid, record.secret_id, planned, now):
            raise SecretNotFound(name)
        return planned

    async def restore(self, appid: str, name: str) -> None:
        record = await self._find(appid, name)
        if not await self._store.restore_secret(appid, record.secret_id, self._clock.now_ms()):
            raise SecretNotFound(name)

    async def purge_once(self) -> int:
        """One purge pass: remove every secret whose recovery window has passed. Returns how many."""
        purged = await self._store.purge_secrets(self._clock.now_ms())
        if purged:
            log.info("purged %d secret(s) past their recovery window", purged)
        return purged

    # -- lookups -------------------------------------------------------------------------------------
    async def _find(self, appid: str, name: str) -> SecretRecord:
        record = await self._store.get_secret(appid, name, self._clock.now_ms())
        if record is None:  # unknown, another app's, or past its recovery window: all look the same
            raise SecretNotFound(name)
        return record

    async def _live(self, appid: str, name: str, change: SecretChange) -> SecretRecord:
        record = await self._find(appid, name)
        if record.planned_delete_ms is not None:
            raise SecretDeleted(name, change)
        return record

    # -- envelope ------------------------------------------------------------------------------------
    async def _seal(
        self, record: SecretRecord, version: int, data: str, now: int, *, reusing_key: bool = False
    ) -> SecretVersionRecord:
        wrap = await self._data_key_wrapper(record, reusing_key=reusing_key)
        return seal_version(record, version, encode_value(data), now, wrap)

    async def _open(self, record: SecretRecord, version: SecretVersionRecord, grant: ReleaseGrant | None) -> str:
        aad = value_aad(record.appid, record.secret_id, version.version)
        data_key = await self._unwrap_data_key(record, version.wrapped_data_key, aad, grant)
        try:
            return decode_value(open_value(data_key, version.sealed_value, aad))
        except aead.AuthenticationFailed:
            log.error("a stored secret value failed authentication (secret_id=%s)", record.secret_id)
            raise InternalFailure from None
        finally:
            del data_key

    async def _data_key_wrapper(self, record: SecretRecord, *, reusing_key: bool) -> WrapDataKey:
        """The secret's key, resolved now (its errors raised now), as a function that wraps data keys."""
        if record.encryption_keyid is None:
            keyid, cipher = await self._default_key(record.appid)
            bind = uuid.UUID(keyid).bytes
            return lambda data_key, aad: symmetric.encrypt(cipher, 1, data_key, bind, aad)
        if not reusing_key:  # CreateSecret: the caller named this key; its own errors say what is wrong
            return await self._symmetric.encrypter(record.appid, record.encryption_keyid)
        try:
            return await self._symmetric.encrypter(record.appid, record.encryption_keyid)
        except _KEY_GONE:
            raise SecretKeyGone(record.name) from None
        except _KEY_REFUSED as exc:
            raise SecretKeyUnusable(record.name, exc) from None

    async def _unwrap_data_key(
        self, record: SecretRecord, wrapped: bytes, aad: bytes, grant: ReleaseGrant | None
    ) -> bytes:
        try:
            if record.encryption_keyid is None:
                keyid, cipher = await self._default_key(record.appid)
                return symmetric.decrypt(cipher, unpack(wrapped), uuid.UUID(keyid).bytes, aad)
            return await self._symmetric.decrypt(record.appid, record.encryption_keyid, wrapped, aad, grant)
        except _KEY_GONE:
            raise SecretKeyGone(record.name) from None
        except _KEY_REFUSED as exc:
            raise SecretKeyUnusable(record.name, exc) from None
        except (DecryptionFailed, InvalidCiphertext, BlobFormatError, aead.AuthenticationFailed):
            log.error("a stored secret data key failed authentication (secret_id=%s)", record.secret_id)
            raise InternalFailure from None

    async def _default_key(self, appid: str) -> tuple[str, symmetric.SymmetricCipher]:
        """The app's default secrets key (created on first use) as a cached AES-256-GCM cipher."""
        record = await self._store.get_secrets_key(appid)
        if record is None:
            record = await self._create_default_key(appid)
        cached = self._keyring.cache.get((record.keyid, 1))
        if cached is not None:
            return record.keyid, cached  # type: ignore[return-value]
        cipher = self._keyring.build_cached(
            (record.keyid, 1),
            record.wrapped_material,
            secrets_key_aad(appid, record.keyid),
            symmetric.AesGcmCipher,
            f"default secrets key of app {appid}",
        )
        return record.keyid, cipher

    async def _create_default_key(self, appid: str) -> SecretsKeyRecord:
        keyid = str(uuid.uuid4())
        material = os.urandom(DATA_KEY_BYTES)
        wrapped = self._keyring.wrap(material, secrets_key_aad(appid, keyid))
        del material
        # Two requests may race to create it: the store keeps the first and both use that one.
        return await self._store.insert_secrets_key_if_absent(
            SecretsKeyRecord(appid, keyid, wrapped, self._clock.now_ms())
        )
