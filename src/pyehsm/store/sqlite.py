"""The embedded store: stdlib sqlite3 in WAL mode, all SQL for it in this module.

SQLite lookups take microseconds, so calls run directly on the event loop; several worker
processes share the file (busy timeout; writes in short IMMEDIATE transactions).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyehsm.errors import StartupError
from pyehsm.store.migrations import latest_version, load_migrations
from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord

_KEY_COLUMNS = "appid, keyid, keyspec, origin, keyusage, state, alias, created_ms, expire_ms, primary_version"


def connect(path: Path, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open (creating it 0600 if new; SQLite gives its -wal/-shm files the same mode) a database."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
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


def _key(row: tuple[object, ...]) -> KeyRecord:
    appid, keyid, keyspec, origin, keyusage, state, alias, created, expire, primary = row
    return KeyRecord(
        appid=str(appid),
        keyid=str(keyid),
        keyspec=str(keyspec),
        origin=str(origin),
        keyusage=str(keyusage),
        state=KeyState(state),
        alias=str(alias),
        created_ms=int(created),  # type: ignore[call-overload]
        expire_ms=int(expire),  # type: ignore[call-overload]
        primary_version=int(primary),  # type: ignore[call-overload]
    )


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        migrate(self._conn)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def ping(self) -> bool:
        return bool(self.conn.execute("SELECT 1").fetchone() == (1,))

    # -- meta -------------------------------------------------------------------------------------
    async def get_meta(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    async def put_meta(self, name: str, value: bytes) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        with transaction(self.conn):
            self.conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    # -- apps -------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None:
        self.conn.execute(
            "INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES (?, ?, ?)",
            (app.appid, app.wrapped_apikey, app.created_ms),
        )

    async def get_app(self, appid: str) -> AppRecord | None:
        row = self.conn.execute(
            "SELECT appid, wrapped_apikey, created_ms FROM apps WHERE appid = ?", (appid,)
        ).fetchone()
        return AppRecord(row[0], bytes(row[1]), row[2]) if row else None

    # -- keys -------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        with transaction(self.conn):
            self.conn.execute(
                f"INSERT INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.appid,
                    key.keyid,
                    key.keyspec,
                    key.origin,
                    key.keyusage,
                    key.state.value,
                    key.alias,
                    key.created_ms,
                    key.expire_ms,
                    key.primary_version,
                ),
            )
            self.conn.execute(
                "INSERT INTO key_versions (keyid, version, wrapped_material, created_ms) VALUES (?, ?, ?, ?)",
                (version.keyid, version.version, version.wrapped_material, version.created_ms),
            )

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None:
        row = self.conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE keyid = ? AND appid = ?",
            (keyid, appid),
        ).fetchone()
        return _key(row) if row else None

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        row = self.conn.execute(
            "SELECT v.keyid, v.version, v.wrapped_material, v.created_ms FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = ? AND v.version = ? AND k.appid = ?",
            (keyid, version, appid),
        ).fetchone()
        if not row:
            return None
        return KeyVersionRecord(row[0], row[1], bytes(row[2]) if row[2] is not None else None, row[3])

    async def list_keys(self, appid: str) -> list[KeyRecord]:
        rows = self.conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE appid = ? ORDER BY created_ms, keyid",
            (appid,),
        ).fetchall()
        return [_key(row) for row in rows]

    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        cur = self.conn.execute("UPDATE keys SET state = ? WHERE keyid = ? AND appid = ?", (state.value, keyid, appid))
        return cur.rowcount == 1

    async def delete_key(self, appid: str, keyid: str) -> bool:
        with transaction(self.conn):
            cur = self.conn.execute("DELETE FROM keys WHERE keyid = ? AND appid = ?", (keyid, appid))
        return cur.rowcount == 1

    async def delete_all_keys(self, appid: str) -> list[str]:
        with transaction(self.conn):
            ids = [r[0] for r in self.conn.execute("SELECT keyid FROM keys WHERE appid = ?", (appid,))]
            self.conn.execute("DELETE FROM keys WHERE appid = ?", (appid,))
        return ids


class SqliteReplayGuard:
    """Replay cache shared by every worker process through its own SQLite file."""

    def __init__(self, path: Path, retention_ms: int) -> None:
        self.path = path
        self.retention_ms = retention_ms
        self._conn = connect(path, synchronous="OFF")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS replay (entry TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID"
        )

    async def remember(self, appid: str, sign: str, now_ms: int) -> bool:
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO replay (entry, expires_ms) VALUES (?, ?)",
            (f"{appid}|{sign}", now_ms + self.retention_ms),
        )
        if cur.rowcount == 1:
            return True
        # A stale entry (older than the window) may be replaced: the timestamp check rejects old requests.
        cur = self._conn.execute(
            "UPDATE replay SET expires_ms = ? WHERE entry = ? AND expires_ms <= ?",
            (now_ms + self.retention_ms, f"{appid}|{sign}", now_ms),
        )
        return cur.rowcount == 1

    async def purge(self, now_ms: int) -> int:
        return self._conn.execute("DELETE FROM replay WHERE expires_ms <= ?", (now_ms,)).rowcount

    async def size(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM replay").fetchone()[0])

    async def close(self) -> None:
        self._conn.close()
