"""The scale-out store: PostgreSQL through psycopg 3 (async pool). All SQL for PostgreSQL lives in this package,
one module per concern: connection (pool, migrations), apps, keys (rows and versions), secrets, import_params,
quote_policies, meta (meta rows and DK-wrapped values), notify (LISTEN), portable (export/import), replay.

Several stateless nodes share one database. Every statement that changes a key's state also runs
``pg_notify(INVALIDATION_CHANNEL, 'k:<keyid>')`` in the same transaction, so other nodes hear of the
change exactly when it is committed (``watch_changes``) and evict their row caches (store/cache.py).
Pool connections run in autocommit mode: a single statement is its own transaction (one round trip);
multi-statement changes use an explicit transaction.
"""

from __future__ import annotations

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, MIGRATION_LOCK_KEY, describe_url, migrate
from pyehsm.store.postgres.notify import ChangeCallback
from pyehsm.store.postgres.replay import PostgresReplayGuard
from pyehsm.store.postgres.store import PostgresStore

__all__ = [
    "INVALIDATION_CHANNEL",
    "MIGRATION_LOCK_KEY",
    "ChangeCallback",
    "PostgresReplayGuard",
    "PostgresStore",
    "describe_url",
    "migrate",
]
