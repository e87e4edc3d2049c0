"""The embedded store: stdlib sqlite3 in WAL mode. All SQL for SQLite lives in this package, one module per
concern: connection (connect, transactions, migrations), wal (commit detection), apps, keys (rows, versions and
the key-row cache), secrets, import_params, quote_policies, meta (meta rows and DK-wrapped values), portable
(export/import, backup).

SQLite lookups take microseconds, so calls run directly on the event loop; several worker
processes share the file (busy timeout; writes in short IMMEDIATE transactions).
"""

from __future__ import annotations

from pyehsm.store.sqlite.connection import connect, migrate, transaction
from pyehsm.store.sqlite.store import SqliteStore
from pyehsm.store.sqlite.wal import WalIndexWatch

__all__ = ["SqliteStore", "WalIndexWatch", "connect", "migrate", "transaction"]
