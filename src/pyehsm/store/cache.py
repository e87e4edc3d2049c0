"""The key-row and app-row cache for the hot path: the one place PostgreSQL key and app rows are cached.

Components, not Store decorators; each store reads through exactly one of them:

* ``RowCache`` (PostgreSQL): PostgresStore takes one (``PostgresStore(url, cache=RowCache(...))``) and uses
  it explicitly in get_key/get_app; every method of the store that changes a key or app row evicts it.
* ``StampedKeyRows`` (SQLite): key rows valid while the database's commit stamp is unchanged; SqliteStore
  computes the stamp (WAL-index header, store/sqlite/wal.py) so another worker's commit is seen by the very
  next lookup, with no TTL and no notification.

Coherence (docs/architecture.md section 7): a mutation made through this node's store evicts at once; a
change made by another node arrives through ``changed(kind, id)`` (PostgreSQL LISTEN/NOTIFY, see
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
from pyehsm.store.limits import DEFAULT_CACHED_KEYS
from pyehsm.store.records import AppRecord, KeyRecord

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


class RowCache:
    """Key rows (by keyid) and app rows (by appid) of one process, with the invalidation protocol.

    The store reads through it: ``key``/``app`` answer a hit; on a miss the store takes ``epoch``
    before its SELECT and hands the row to ``keep_key``/``keep_app`` with that epoch afterwards, which
    drops it when an invalidation ran meanwhile.
    """

    def __init__(self, clock: Clock, ttl_ms: int = DEFAULT_TTL_MS, max_entries: int = DEFAULT_CACHED_KEYS) -> None:
        self._keys: TtlCache[str, KeyRecord] = TtlCache(clock, ttl_ms, max_entries)  # by keyid (unique)
        self._apps: TtlCache[str, AppRecord] = TtlCache(clock, ttl_ms, max_entries)
        self.epoch = 0
        self.on_evict: list[Callable[[str], None]] = []  # called with the keyid of every changed key

    def __repr__(self) -> str:
        return f"<RowCache keys={len(self._keys)} apps={len(self._apps)}>"

    # -- reads ------------------------------------------------------------------------------------
    def key(self, appid: str, keyid: str) -> KeyRecord | None:
        cached = self._keys.get(keyid)
        return cached if cached is not None and cached.appid == appid else None

    def app(self, appid: str) -> AppRecord | None:
        return self._apps.get(appid)

    def keep_key(self, record: KeyRecord, epoch: int) -> None:
        if epoch == self.epoch:
            self._keys.put(record.keyid, record)

    def keep_app(self, record: AppRecord, epoch: int) -> None:
        if epoch == self.epoch:
            self._apps.put(record.appid, record)

    # -- invalidation -----------------------------------------------------------------------------
    def changed(self, kind: str, ident: str) -> None:
        """Another node (or this one) committed a change to key ``ident`` (kind "k") or app (kind "a")."""
        self.epoch += 1
        if kind == KEY_CHANGED:
            self.evict_key(ident)
        elif kind == APP_CHANGED:
            self._apps.pop(ident)
        else:  # an unknown kind from a newer node: be safe
            self.reset()

    def evict_key(self, keyid: str) -> None:
        self.epoch += 1
        self._keys.pop(keyid)
        for hook in self.on_evict:
            hook(keyid)

    def reset(self) -> None:
        """Notifications may have been lost (listener reconnected): forget everything cached."""
        self.epoch += 1
        self._keys.clear()
        self._apps.clear()


class StampedKeyRows:
    """Key rows (by appid and keyid) valid while a commit stamp stays what it was when they were read.

    The caller computes the stamp on every lookup (SQLite: the WAL-index header plus the connection's
    total_changes); any change clears every row, so a commit by any connection is seen at once.
    """

    __slots__ = ("_max", "_rows", "_stamp")

    def __init__(self, max_entries: int = DEFAULT_CACHED_KEYS) -> None:
        self._max = max_entries
        self._rows: dict[tuple[str, str], KeyRecord] = {}
        self._stamp: object = None

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, stamp: object, appid: str, keyid: str) -> KeyRecord | None:
        if stamp != self._stamp:
            self._rows.clear()
            self._stamp = stamp
            return None
        return self._rows.get((appid, keyid))

    def put(self, record: KeyRecord) -> None:
        if len(self._rows) >= self._max:
            self._rows.clear()
        self._rows[(record.appid, record.keyid)] = record

    def reset(self) -> None:
        self._rows.clear()
        self._stamp = None
