"""Connections, transactions, migrations and the base every SQLite store mixin builds on."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyehsm.errors import StartupError
from pyehsm.store.cache import StampedRows
from pyehsm.store.limits import DEFAULT_CACHED_KEYS
from pyehsm.store.migrations import latest_version, load_migrations
from pyehsm.store.records import AppRecord, KeyRecord
from pyehsm.store.sqlite.wal import WalIndexWatch

# The store's reads go through a memory mapping of the database file (up to this size) instead of a read()
# per page: a key lookup that misses the worker's caches walks B-tree pages spread over the whole file, and
# with a million keys the pread() calls were a third of its cost (bench/keycount.py, bench/README.md). The
# mapped pages are the page cache's, shared by the workers and reclaimable: they count in a worker's RSS
# as file-backed memory (RssFile), not as its own (RssAnon).
STORE_MMAP_BYTES = 1 << 30


def connect(path: Path, *, synchronous: str = "NORMAL", mmap_bytes: int = 0) -> sqlite3.Connection:
    """Open (creating it 0600 if new; SQLite gives its -wal/-shm files the same mode) a database; reads
    through a mapping of up to ``mmap_bytes`` of it (0: none)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    if mmap_bytes:
        conn.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, now_ms: int | None = None) -> int:
    """Apply pending migrations under SQLite's exclusive lock; return the schema version."""
    migrations = load_migrations("sqlite")
    known = latest_version("sqlite")
    with transaction(conn, "EXCLUSIVE"):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
        )
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        if current > known:
            raise StartupError(
                f"the database schema version {current} is newer than this pyehsm knows ({known}); "
                "upgrade pyehsm before starting it on this database"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)",
                (migration.version, now_ms if now_ms is not None else int(time.time() * 1000)),
            )
        return int(known if current < known else current)


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class SqliteBase:
    """One connection per store object (per worker), opened by ``open``."""

    kind = "sqlite"

    def __init__(self, path: Path, cached_keys: int = DEFAULT_CACHED_KEYS) -> None:
        """``cached_keys``: the most key rows this worker keeps (--key-cache-entries)."""
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # Key rows read on the hot path, valid while nobody wrote the database: the WAL-index header
        # (WalIndexWatch; SQLite's data_version where the header cannot be read) moves when another
        # connection (another worker) commits, total_changes when this one writes.
        self._keys: StampedRows[tuple[str, str], KeyRecord] = StampedRows(cached_keys)
        # App rows the same way: AppService re-reads an app's settings every second, a hit while nothing
        # was written (a workload spread over many apps would otherwise read one app row per app and second)
        self._apps: StampedRows[str, AppRecord] = StampedRows(cached_keys)
        self._wal: WalIndexWatch | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path, mmap_bytes=STORE_MMAP_BYTES)
        migrate(self._conn)
        self._wal = WalIndexWatch.attach(self._conn, self.path)

    def commit_stamp(self) -> object:
        """What changes whenever any connection commits to the database: the WAL-index header (SQLite's
        data_version where the header cannot be read), with this connection's total_changes. Synchronous:
        no I/O while the header is mapped."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("store is not open")
        wal = self._wal
        header = wal.header() if wal is not None else None
        if header is None:  # no mapped header, or it is being written: ask SQLite
            return (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        return (header, conn.total_changes)

    async def close(self) -> None:
        wal, self._wal = self._wal, None
        self._keys.reset()
        self._apps.reset()
        if wal is not None:
            wal.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def ping(self) -> bool:
        return bool(self.conn.execute("SELECT 1").fetchone() == (1,))
