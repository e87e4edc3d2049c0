"""CMK lifecycle and resolution: tenancy, state and usage rules for every key operation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pyehsm.clock import Clock
from pyehsm.crypto.keyspecs import KEYSPECS, KeySpec, KeyUsage, Operation, Origin, keyspec
from pyehsm.errors import (
    KeyAwaitingMaterial,
    KeyDisabled,
    KeyMaterialNotImported,
    KeyNotFound,
    KeyPendingDeletion,
    KeyVersionNotFound,
    OperationNotSupported,
    UsageNotAllowed,
    UsageNotSupported,
)
from pyehsm.keyring.keyring import Keyring, MaterialRef
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.store.base import Store
from pyehsm.store.limits import MAX_BULK_KEYS
from pyehsm.store.records import KeyRecord, KeyState, KeyVersionRecord

T = TypeVar("T")

DEFAULT_EXPIRY_MS = 100 * 365 * 86_400_000  # pyehsm keys do not expire: report creation + 100 years
ALIAS_PREFIX = "alias/"  # a keyid field starting with this names a key by one of the app's aliases


class KeyService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        pool: KeyPairPool,
        clock: Clock,
        expiry_ms: int = DEFAULT_EXPIRY_MS,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._pool = pool
        self._clock = clock
        self._expiry_ms = expiry_ms
        # A store that can answer from its validated row cache synchronously (SqliteStore, PostgresStore)
        # lets the hot path skip two coroutines; None: every lookup goes through the store's reads.
        self._cached_key: Callable[[str, str], KeyRecord | None] | None = getattr(store, "cached_key", None)

    def __repr__(self) -> str:
        return "<KeyService>"

    async def create(
        self,
        appid: str,
        spec: KeySpec,
        origin: Origin,
        usage: KeyUsage | None,
        release_policy: str | None = None,  # canonical JSON (services/release_policies.py parses it)
    ) -> KeyRecord:
        if usage is not None and not spec.allows_usage(usage):
            # No Action could use such a key (Intel refuses AES/SM4 with SIGN_VERIFY at creation too).
            raise UsageNotSupported(spec.name, usage.value, tuple(u.value for u in spec.usable_usages()))
        now = self._clock.now_ms()
        external = origin is Origin.EXTERNAL
        record = KeyRecord(
            appid=appid,
            keyid=str(uuid.uuid4()),
            keyspec=spec.name,
            origin=origin.value,
            keyusage=(usage or spec.default_usage).value,
            state=KeyState.PENDING_IMPORT if external else KeyState.ENABLED,
            alias="",
            created_ms=now,
            expire_ms=now + self._expiry_ms,
            primary_version=1,
            release_policy=release_policy,
        )
        wrapped = None
        if not external:
            material = await self._pool.take(spec)
            wrapped = self._keyring.wrap_material(self.material_ref(record, 1), material)
            del material
        await self._store.insert_key(record, KeyVersionRecord(record.keyid, 1, wrapped, now))
        return record

    async def create_many(
        self, appid: str, spec: KeySpec, count: int, usage: KeyUsage | None = None, batch_size: int = MAX_BULK_KEYS
    ) -> list[str]:
        """The bulk path for loading many keys at once (bench/keycount.py; no wire Action): ``count`` keys of
        ``spec`` for an existing app, made and wrapped exactly as ``create`` makes them, stored in batches
        of ``batch_size`` (at most MAX_BULK_KEYS) through Store.insert_keys (one transaction each).
        Returns the new keyids."""
        if usage is not None and not spec.allows_usage(usage):
            raise UsageNotSupported(spec.name, usage.value, tuple(u.value for u in spec.usable_usages()))
        keyids: list[str] = []
        while len(keyids) < count:
            now = self._clock.now_ms()
            batch = []
            for _ in range(min(batch_size, MAX_BULK_KEYS, count - len(keyids))):
                record = KeyRecord(
                    appid=appid,
                    keyid=str(uuid.uuid4()),
                    keyspec=spec.name,
                    origin=Origin.INTERNAL.value,
                    keyusage=(usage or spec.default_usage).value,
                    state=KeyState.ENABLED,
                    alias="",
                    created_ms=now,
                    expire_ms=now + self._expiry_ms,
                    primary_version=1,
                )
                material = await self._pool.take(spec)
                wrapped = self._keyring.wrap_material(self.material_ref(record, 1), material)
                del material
                batch.append((record, KeyVersionRecord(record.keyid, 1, wrapped, now)))
            await self._store.insert_keys(batch)
            keyids.extend(record.keyid for record, _ in batch)
        return keyids

    @staticmethod
    def material_ref(record: KeyRecord, version: int) -> MaterialRef:
        return MaterialRef(record.appid, record.keyid, version, record.keyspec)

    async def list(self, appid: str) -> list[KeyRecord]:
        return [await self.current(r) for r in await self._store.list_keys(appid)]

    def material_expired(self, record: KeyRecord) -> bool:
        """The key's imported material has passed its expiration (ValidTo) and is not deleted yet."""
        expires = record.material_expires_ms
        return expires is not None and self._clock.now_ms() >= expires

    async def current(self, record: KeyRecord) -> KeyRecord:
        """``record`` as it stands now: material past its expiration is deleted here and then (the key goes
        back to pending_import, docs/byok.md), so every read agrees with the byok sweep that does it too."""
        if not self.material_expired(record):
            return record
        await self._store.expire_key_material(self._clock.now_ms(), 1, record.keyid)
        self._keyring.forget(record.keyid)
        return await self._store.get_key(record.appid, record.keyid) or record

    async def get(self, appid: str, keyid: str) -> KeyRecord:
        """The caller's key named by its keyid or by one of the app's aliases (``alias/...``): THE lookup every
        keyid-taking operation goes through. Unknown, another app's key or another app's alias: KeyNotFound."""
        if keyid.startswith(ALIAS_PREFIX):  # keyids are UUIDs: never alias names
            target = await self._store.get_alias(appid, keyid)  # the app's own aliases only
            record = await self._store.get_key(appid, target) if target is not None else None
        else:
            record = await self._store.get_key(appid, keyid)  # the store filters by appid: tenancy
        if record is None:
            raise KeyNotFound(keyid)
        return await self.current(record) if record.material_expires_ms is not None else record

    async def enable(self, appid: str, keyid: str) -> None:
        record = await self.get(appid, keyid)
        _check_state_changeable(record)
        if not await self._store.set_key_state(appid, record.keyid, KeyState.ENABLED):
            _check_state_changeable(await self.get(appid, keyid))
            raise KeyNotFound(keyid)  # pragma: no cover - deleted between the two statements

    async def disable(self, appid: str, keyid: str) -> None:
        record = await self.get(appid, keyid)
        _check_state_changeable(record)
        if not await self._store.set_key_state(appid, record.keyid, KeyState.DISABLED):
            _check_state_changeable(await self.get(appid, keyid))
            raise KeyNotFound(keyid)  # pragma: no cover - deleted between the two statements
        self._keyring.forget(record.keyid)

    async def delete(self, appid: str, keyid: str) -> None:
        target = keyid
        if keyid.startswith(ALIAS_PREFIX):
            target = (await self.get(appid, keyid)).keyid
        if not await self._store.delete_key(appid, target):
            raise KeyNotFound(keyid)
        self._keyring.forget(target)

    async def delete_all(self, appid: str) -> int:
        deleted = await self._store.delete_all_keys(appid)
        for keyid in deleted:
            self._keyring.forget(keyid)
        return len(deleted)

    def resolve_cached(self, appid: str, keyid: str, op: Operation) -> tuple[KeyRecord, KeySpec] | None:
        """``resolve`` from the store's validated row cache, without I/O or a coroutine; None when the row
        is not cached (then await ``resolve``), and always for an alias (no key row is cached under it).
        Raises exactly what ``resolve`` would for a cached row."""
        peek = self._cached_key
        record = peek(appid, keyid) if peek is not None else None
        if record is None or record.material_expires_ms is not None:  # expiring material: see ``resolve``
            return None
        return record, usable_for(record, op)

    async def resolve(self, appid: str, keyid: str, op: Operation) -> tuple[KeyRecord, KeySpec]:
        """The caller's key (by keyid or alias: ``get``), checked to be usable for ``op`` (exists, enabled,
        keyspec and usage allow it). Callers use ``record.keyid`` from here on, never the name they got."""
        if keyid.startswith(ALIAS_PREFIX):
            record = await self.get(appid, keyid)
        else:  # the hot path: one store read, no extra coroutine
            found = await self._store.get_key(appid, keyid)  # the store filters by appid: tenancy
            if found is None:
                raise KeyNotFound(keyid)
            record = found
        if record.material_expires_ms is not None:
            record = await self.current(record)
        return record, usable_for(record, op)

    async def resolve_loaded(
        self, appid: str, keyid: str, op: Operation, build_of: Callable[[KeySpec], Callable[[bytes], T]]
    ) -> tuple[KeyRecord, KeySpec, T]:
        """``resolve`` and the primary version's primitive (cached, or built by ``build_of(spec)``): the request
        path after a row-cache miss. A keyid is one store read (the key row and the primary's material
        together, Store.get_key_and_primary), not two; an alias, or material that expired just now, reads as
        ``resolve`` and ``load_primitive`` do."""
        wrapped: bytes | None = None
        if keyid.startswith(ALIAS_PREFIX):
            record = await self.get(appid, keyid)
        else:
            found = await self._store.get_key_and_primary(appid, keyid)  # the store filters by appid: tenancy
            if found is None:
                raise KeyNotFound(keyid)
            record, wrapped = found
            if record.material_expires_ms is not None:
                now = await self.current(record)
                record, wrapped = now, wrapped if now is record else None
        spec = usable_for(record, op)
        version = record.primary_version
        primitive: T | None = self.cached_primitive(record, version)
        if primitive is not None:
            return record, spec, primitive
        if wrapped is None:
            return record, spec, await self.load_primitive(record, version, build_of(spec))
        return record, spec, await self._build_primitive(record, version, wrapped, build_of(spec))

    def cached_primitive(self, record: KeyRecord, version: int) -> Any:
        """The cached primitive (cipher, parsed private key) of one version of a resolved key, or None: then
        ``load_primitive``. The caller knows its type: the one its ``build`` makes for ``load_primitive``."""
        return self._keyring.cache.get((record.keyid, version))

    async def load_primitive(self, record: KeyRecord, version: int, build: Callable[[bytes], T]) -> T:
        """Unwrap, build and cache the primitive of one version of a resolved key (after a cache miss)."""
        stored = await self._store.get_key_version(record.appid, record.keyid, version)
        if stored is None or stored.wrapped_material is None:
            raise KeyVersionNotFound(record.keyid, version)
        return await self._build_primitive(record, version, stored.wrapped_material, build)

    async def _build_primitive(self, record: KeyRecord, version: int, wrapped: bytes, build: Callable[[bytes], T]) -> T:
        ref = self.material_ref(record, version)
        if keyspec(record.keyspec).family.parse_in_thread:
            # Parsing a key pair (RSA validation: up to ~250 ms) must not block the event loop.
            return await asyncio.to_thread(self._keyring.build_primitive, ref, wrapped, build)
        return self._keyring.build_primitive(ref, wrapped, build)


# What each (keyspec, operation) pair allows, computed once from the registry: the KeySpec, whether the
# algorithm cannot do the operation, the keyusage the key must have (None: any).
# Keyed by the operation's ``_value_``: hashing an Enum member runs Python code (Enum.__hash__).
_RULES: dict[tuple[str, str], tuple[KeySpec, bool, str | None]] = {
    (spec.name, op.value): (
        spec,
        not spec.supports(op),
        op.usage.value if op.usage is not None else None,
    )
    for spec in KEYSPECS.values()
    for op in Operation
}
_DISABLED = KeyState.DISABLED
_PENDING_IMPORT = KeyState.PENDING_IMPORT
_PENDING_DELETION = KeyState.PENDING_DELETION


def _check_state_changeable(record: KeyRecord) -> None:
    """EnableKey / DisableKey: refused for a key awaiting its material or pending deletion."""
    if record.state is _PENDING_IMPORT:
        raise KeyAwaitingMaterial(record.keyid)
    if record.state is _PENDING_DELETION:
        raise KeyPendingDeletion(record.keyid)


def usable_for(record: KeyRecord, op: Operation) -> KeySpec:
    """The keyspec of ``record`` if the key can be used for ``op``; the domain error otherwise.

    The checks, in this order (after the caller found the key under its appid): the key is not disabled,
    its material has been imported, it is not pending deletion, its keyspec supports ``op``, its keyusage allows ``op``.
    """
    state = record.state
    if state is _DISABLED:
        raise KeyDisabled(record.keyid)
    if state is _PENDING_IMPORT:
        raise KeyMaterialNotImported(record.keyid)
    if state is _PENDING_DELETION:
        raise KeyPendingDeletion(record.keyid)
    spec, unsupported, wanted = _RULES[(record.keyspec, op._value_)]
    if unsupported:
        raise OperationNotSupported(record.keyspec, op.value)
    if wanted is not None and record.keyusage != wanted:
        raise UsageNotAllowed(record.keyusage, op.value)
    return spec
