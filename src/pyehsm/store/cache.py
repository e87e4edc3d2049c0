"""A caching Store decorator for the hot path: get_key and get_app answered from process memory.

Coherence (docs/architecture.md section 7): a mutation made through this object evicts at once; a change made
by another node arrives through ``changed(kind, id)`` (PostgreSQL LISTEN/NOTIFY, see
PostgresStore.watch_changes) and evicts at once too; every entry also expires after ``ttl_ms``,
the safety net for a lost notification. Eviction hooks (``on_evict``, e.g. Keyring.forget) run for
every key change so parsed key material of a disabled or deleted key leaves memory as well.

Only positive answers are cached: a key created on another node is visible at once. A read that
raced an invalidation is not cached (an epoch counter detects it), so a stale row never outlives
the notification that should have removed it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from pyehsm.clock import Clock
from pyehsm.store.base import SealVersion, Store, WrappedValue
from pyehsm.store.records import (
    AppRecord,
    ImportParamsRecord,
    KeyRecord,
    KeyState,
    KeyVersionRecord,
    QuotePolicyRecord,
    SecretRecord,
    SecretsKeyRecord,
    SecretVersionInfo,
    SecretVersionRecord,
)

DEFAULT_TTL_MS = 500
KEY_CHANGED = "k"
APP_CHANGED = "a"

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded LRU whose entries expire ``ttl_ms`` after they were stored (by the injected clock)."""

    def __init__(self, clock: Clock, ttl_ms: int, max_entries: int) -> None:
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._max = max_entries
        self._items: OrderedDict[K, tuple[int, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored_ms, value = item
        age = self._clock.now_ms() - stored_ms
        if age >= self._ttl_ms or age < 0:  # expired, or the wall clock stepped back
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._ttl_ms <= 0:
            return
        self._items[key] = (self._clock.now_ms(), value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class CachingStore:
    """Wraps a Store; caches get_key/get_app; every other call goes straight through."""

    def __init__(
        self,
        inner: Store,
        clock: Clock,
        ttl_ms: int = DEFAULT_TTL_MS,
        max_entries: int = 100_000,
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self._keys: TtlCache[str, KeyRecord] = TtlCache(clock, ttl_ms, max_entries)  # by keyid (unique)
        self._apps: TtlCache[str, AppRecord] = TtlCache(clock, ttl_ms, max_entries)
        self._epoch = 0
        self.on_evict: list[Callable[[str], None]] = []  # called with the keyid of every changed key

    def __repr__(self) -> str:
        return f"<CachingStore keys={len(self._keys)} apps={len(self._apps)} over {self.inner!r}>"

    # -- invalidation -----------------------------------------------------------------------------
    def changed(self, kind: str, ident: str) -> None:
        """Another node (or this one) committed a change to key ``ident`` (kind "k") or app (kind "a")."""
        self._epoch += 1
        if kind == KEY_CHANGED:
            self.evict_key(ident)
        elif kind == APP_CHANGED:
            self._apps.pop(ident)
        else:  # an unknown kind from a newer node: be safe
            self.reset()

    def evict_key(self, keyid: str) -> None:
        self._epoch += 1
        self._keys.pop(keyid)
        for hook in self.on_evict:
            hook(keyid)

    def reset(self) -> None:
        """Notifications may have been lost (listener reconnected): forget everything cached."""
        self._epoch += 1
        self._keys.clear()
        self._apps.clear()

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        self.reset()
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    # -- meta -------------------------------------------------------------------------------------
    async def get_meta(self, name: str) -> bytes | None:
        return await self.inner.get_meta(name)

    async def put_meta(self, name: str, value: bytes) -> None:
        await self.inner.put_meta(name, value)

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        return await self.inner.insert_meta_if_absent(name, value)

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        return await self.inner.replace_meta(expected, values, delete)

    # -- domain-key rotation: re-wrapping changes no key row and no plaintext; nothing to evict -------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        return await self.inner.list_wrapped(kind, below, after, limit)

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        return await self.inner.replace_wrapped(changes)

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        return await self.inner.count_wrapped(kind)

    # -- apps -------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None:
        await self.inner.insert_app(app)

    async def get_app(self, appid: str) -> AppRecord | None:
        cached = self._apps.get(appid)
        if cached is not None:
            return cached
        epoch = self._epoch
        record = await self.inner.get_app(appid)
        if record is not None and epoch == self._epoch:
            self._apps.put(appid, record)
        return record

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        changed = await self.inner.set_app_require_signed_action(appid, required)
        self.changed(APP_CHANGED, appid)  # the NOTIFY evicts it too; this node need not wait for it
        return changed

    # -- keys -------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        await self.inner.insert_key(key, version)

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None:
        cached = self._keys.get(keyid)
        if cached is not None and cached.appid == appid:
            return cached
        epoch = self._epoch
        record = await self.inner.get_key(appid, keyid)
        if record is not None and epoch == self._epoch:
            self._keys.put(keyid, record)
        return record

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        return await self.inner.get_key_version(appid, keyid, version)

    async def list_keys(self, appid: str) -> list[KeyRecord]:
        return await self.inner.list_keys(appid)

    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        try:
            return await self.inner.set_key_state(appid, keyid, state)
        finally:
            self.evict_key(keyid)

    async def delete_key(self, appid: str, keyid: str) -> bool:
        try:
            return await self.inner.delete_key(appid, keyid)
        finally:
            self.evict_key(keyid)

    async def delete_all_keys(self, appid: str) -> list[str]:
        deleted: list[str] = []
        try:
            deleted = await self.inner.delete_all_keys(appid)
            return deleted
        finally:
            for keyid in deleted:
                self.evict_key(keyid)

    # -- secrets and quote policies: not cached, straight through ------------------------------------
    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None:
        return await self.inner.get_secrets_key(appid)

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        return await self.inner.insert_secrets_key_if_absent(key)

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        return await self.inner.insert_secret(secret, version, now_ms)

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None:
        return await self.inner.get_secret(appid, name, now_ms)

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        return await self.inner.list_secrets(appid, name, now_ms, limit)

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        return await self.inner.update_secret_description(appid, secret_id, description, now_ms)

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        return await self.inner.add_secret_version(appid, secret_id, now_ms, seal)

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None:
        return await self.inner.get_secret_version(appid, secret_id, version)

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        return await self.inner.list_secret_versions(appid, secret_id, limit)

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        return await self.inner.schedule_secret_deletion(appid, secret_id, planned_delete_ms, now_ms)

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        return await self.inner.restore_secret(appid, secret_id, now_ms)

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        return await self.inner.delete_secret(appid, secret_id)

    async def purge_secrets(self, now_ms: int) -> int:
        return await self.inner.purge_secrets(now_ms)

    async def insert_quote_policy(self, policy: QuotePolicyRecord) -> None:
        await self.inner.insert_quote_policy(policy)

    async def get_quote_policy(self, appid: str, policy_id: str) -> QuotePolicyRecord | None:
        return await self.inner.get_quote_policy(appid, policy_id)

    # -- BYOK: installing material enables the key, so it is evicted like any other state change ------
    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        return await self.inner.put_import_params(params)

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        return await self.inner.get_import_params(appid, keyid)

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        return await self.inner.count_import_failure(appid, keyid, token_id, max_failures)

    async def install_key_material(self, appid: str, keyid: str, token_id: str, wrapped_material: bytes) -> bool:
        try:
            return await self.inner.install_key_material(appid, keyid, token_id, wrapped_material)
        finally:
            self.evict_key(keyid)

    async def purge_import_params(self, now_ms: int) -> int:
        return await self.inner.purge_import_params(now_ms)
