"""How a node opens its persistence from its settings: the store (SQLite or PostgreSQL), the replay guard,
and, on PostgreSQL, the per-process row cache kept coherent across nodes. Wired by app.py; the CLI's offline
commands open stores the same way."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pyehsm.clock import Clock
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.keyring.keyring import Keyring
from pyehsm.store.base import ReplayGuard, Store
from pyehsm.store.cache import RowCache
from pyehsm.store.mapped_replay import PROBE_IMPL, MappedReplayGuard
from pyehsm.store.sqlite import SqliteStore
from pyehsm.store.sqlite_replay import SqliteReplayGuard

if TYPE_CHECKING:
    from pyehsm.store.postgres import PostgresStore

log = logging.getLogger("pyehsm")


def open_store(settings: Settings) -> Store:
    if not settings.store or settings.store.startswith("sqlite:"):
        path = Path(settings.store.removeprefix("sqlite:")) if settings.store else settings.sqlite_path
        return SqliteStore(path, settings.key_cache_entries)
    if settings.store.startswith(("postgresql://", "postgres://")):
        from pyehsm.store.postgres import PostgresStore  # the "postgresql" extra (MissingExtraError without it)

        return PostgresStore(settings.store, max_size=settings.pg_pool_size)
    raise StartupError("unsupported --store: expected sqlite:PATH or postgresql://...")


def as_postgres(store: Store) -> PostgresStore | None:
    """``store`` when it is a PostgresStore, else None (without importing psycopg for any other store)."""
    if "pyehsm.store.postgres" not in sys.modules:
        return None  # never imported: no store of this process is one
    from pyehsm.store.postgres import PostgresStore

    return store if isinstance(store, PostgresStore) else None


async def open_replay_guard(settings: Settings, store: Store, clock: Clock, floor_window_ms: int) -> ReplayGuard:
    """The node's replay guard: PostgreSQL's table, else the mapped table over a SQLite overflow.
    ``floor_window_ms``: the widest timestamp window of the node's doors (app.REPLAY_FLOOR_WINDOW_MS)."""
    inner = as_postgres(store)
    if inner is not None:
        from pyehsm.store.postgres import PostgresReplayGuard

        return PostgresReplayGuard(inner, settings.replay_retention_ms)
    if PROBE_IMPL == "c":
        log.info("replay table: the C fast path (pyehsm.store._replay_probe)")
    else:
        log.warning(
            "replay table: the Python path (the C extension pyehsm.store._replay_probe is not built: "
            "install gcc and the Python headers, then reinstall pyehsm, for the faster one)"
        )
    overflow = SqliteReplayGuard(settings.replay_path, settings.replay_retention_ms)
    # Should the table have to be created while apps exist (a restored backup, a lost or damaged table),
    # it must refuse every request that may have been seen: one accepted before the loss carries a
    # timestamp up to the window ahead of its arrival, so the floor is now + the window
    # (docs/operations.md, "Replay protection: the rule and its cost").
    has_apps = any((await store.count_wrapped("apikey")).values())
    return MappedReplayGuard(
        settings.replay_table_path,
        settings.replay_retention_ms,
        settings.replay_capacity,
        clock,
        overflow,
        floor_ms=clock.now_ms() + floor_window_ms if has_apps else 0,
    )


async def coherent_cache(
    settings: Settings, store: Store, keyring: Keyring, clock: Clock
) -> tuple[Store, asyncio.Task[None] | None]:
    """PostgreSQL: cache key/app rows per process (a RowCache the store reads through); other nodes' changes
    evict them through LISTEN/NOTIFY (and keyring.forget drops the parsed key); the listener's probes keep
    the rows valid while it is provably hearing every change, else a TTL bounds their staleness."""
    postgres = as_postgres(store)
    if postgres is None:
        return store, None
    cache = RowCache(clock, settings.cache_ttl_ms, settings.key_cache_entries)
    cache.on_evict.append(keyring.forget)
    postgres.cache = cache
    ready = asyncio.Event()
    watcher = asyncio.create_task(postgres.watch_changes(cache.changed, cache.reset, ready, cache.probe))
    try:
        await asyncio.wait_for(ready.wait(), timeout=30)
    except BaseException:
        watcher.cancel()
        await postgres.close()
        raise
    return postgres, watcher
