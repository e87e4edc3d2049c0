"""The key-row and app-row cache for the hot path: the one place PostgreSQL key and app rows are cached.

Components, not Store decorators; each store reads through exactly one of them:

* ``RowCache`` (PostgreSQL): PostgresStore takes one (``PostgresStore(url, cache=RowCache(...))``) and uses
  it explicitly in get_key/get_app; every method of the store that changes a key or app row evicts it.
* ``StampedRows`` (SQLite): key and app rows valid while the database's commit stamp is unchanged; SqliteStore
  computes the stamp (WAL-index header, store/sqlite/wal.py) so another worker's commit is seen by the very
  next lookup, with no TTL and no notification.

Coherence (docs/architecture.md section 7): a mutation made through this node's store evicts at once; a
change made by another node arrives through ``changed(kind, id)`` (PostgreSQL LISTEN/NOTIFY, see
PostgresStore.watch_changes) and evicts at once too; ``ttl_ms`` bounds how stale a row can be if
notifications are lost. An entry expires ``ttl_ms`` after it was read, unless the listener proved within
the last ``ttl_ms`` that it hears every change (``probe``: a round trip on the LISTEN connection, whose
reply PostgreSQL sends only after every notification committed before it): then every change committed
before that proof has been evicted, so what is still cached is at most ``ttl_ms`` behind the database
and the entry stays (up to ``max_entries``, least recently used first out). Eviction hooks (``on_evict``,
e.g. Keyring.forget) run for every key change so parsed key material of a disabled or deleted key leaves memory as well.

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
    """A bounded LRU whose entries expire ``ttl_ms`` after they were stored (by the injected clock), unless
    ``still_fresh(now_ms)`` vouches for every entry (RowCache: the listener's last proof is recent)."""

    def __init__(
        self, clock: Clock, ttl_ms: int, max_entries: int, still_fresh: Callable[[int], bool] | None = None
    ) -> None:
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._max = max_entries
        self._still_fresh = still_fresh
        self._items: OrderedDict[K, tuple[int, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored_ms, value = item
        now = self._clock.now_ms()
        age = now - stored_ms
        if age < 0 or (age >= self._ttl_ms and (self._still_fresh is None or not self._still_fresh(now))):
            del self._items[key]  # expired, or the wall clock stepped back
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
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._keys: TtlCache[str, KeyRecord] = TtlCache(clock, ttl_ms, max_entries, self._listener_fresh)  # by keyid
        self._apps: TtlCache[str, AppRecord] = TtlCache(clock, ttl_ms, max_entries, self._listener_fresh)
        # When the listener's last answered probe was sent: every change committed before it is evicted.
        self._synced_ms: int | None = None
        self.epoch = 0
        self._reset_epoch = 0  # the epoch of the last reset(): a probe sent before it proves nothing
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

    # -- the listener's proof ---------------------------------------------------------------------
    def probe(self) -> Callable[[], None]:
        """The listener is about to send a round trip on its LISTEN connection: call the answer once its
        reply has come and every notification that came before or with it has gone through ``changed``."""
        sent_ms = self._clock.now_ms()
        epoch = self.epoch

        def answered() -> None:
            if self._reset_epoch <= epoch and (self._synced_ms is None or sent_ms > self._synced_ms):
                self._synced_ms = sent_ms

        return answered

    @property
    def synced_ms(self) -> int | None:
        """When the last answered probe was sent (None: none since the last reset)."""
        return self._synced_ms

    def _listener_fresh(self, now_ms: int) -> bool:
        synced = self._synced_ms
        return synced is not None and 0 <= now_ms - synced < self._ttl_ms

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
        """Notifications may have been lost (listener reconnected): forget everything cached, and trust
        nothing beyond the TTL until the listener proves itself again."""
        self.epoch += 1
        self._reset_epoch = self.epoch
        self._synced_ms = None
        self._keys.clear()
        self._apps.clear()


class StampedRows(Generic[K, V]):
    """Rows (key rows by (appid, keyid), app rows by appid) valid while a commit stamp stays what it was when
    they were read.

    The caller computes the stamp on every lookup (SQLite: the WAL-index header plus the connection's
    total_changes); any change clears every row, so a commit by any connection is seen at once.
    """

    __slots__ = ("_max", "_rows", "_stamp")

    def __init__(self, max_entries: int = DEFAULT_CACHED_KEYS) -> None:
        self._max = max_entries
        self._rows: dict[K, V] = {}
        self._stamp: object = None

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, stamp: object, key: K) -> V | None:
        if stamp != self._stamp:
            self._rows.clear()
            self._stamp = stamp
            return None
        return self._rows.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._rows) >= self._max:
            self._rows.clear()
        self._rows[key] = value

    def reset(self) -> None:
        self._rows.clear()
        self._stamp = None
