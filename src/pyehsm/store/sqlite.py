"""The embedded store: stdlib sqlite3 in WAL mode, all SQL for it in this module.

SQLite lookups take microseconds, so calls run directly on the event loop; several worker
processes share the file (busy timeout; writes in short IMMEDIATE transactions).
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import sqlite3
import struct
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyehsm.errors import StartupError
from pyehsm.store.base import WRAPPED_ROWS, SealKeyVersion, SealVersion, TableInfo, WrappedValue
from pyehsm.store.migrations import latest_version, load_migrations
from pyehsm.store.records import (
    AppRecord,
    ImportParamsRecord,
    KeyRecord,
    KeyState,
    KeyVersionInfo,
    KeyVersionRecord,
    KeyVersionState,
    QuotePolicyRecord,
    SecretRecord,
    SecretsKeyRecord,
    SecretVersionInfo,
    SecretVersionRecord,
    VersionSource,
)

_KEY_COLUMNS = (
    "appid, keyid, keyspec, origin, keyusage, state, alias, created_ms, expire_ms, primary_version, "
    "rotation_period_days, next_rotation_ms"
)
_VERSION_COLUMNS = "v.keyid, v.version, v.wrapped_material, v.created_ms, v.state, v.source"
_DAY_MS = 86_400_000
_SECRET_COLUMNS = (
    "appid, secret_id, name, description, encryption_keyid, rotation_interval, created_ms, updated_ms, "
    "last_rotation_ms, latest_version, planned_delete_ms"
)
_SECRET_LIVE = "(planned_delete_ms IS NULL OR planned_delete_ms > ?)"
_QUOTE_POLICY_COLUMNS = "appid, policy_id, mr_enclave, mr_signer, mr_td, rtmr0, rtmr1, rtmr2, rtmr3, created_ms"
_IMPORT_COLUMNS = (
    "appid, keyid, token_id, wrapping_keyspec, public_key, wrapped_private_key, created_ms, expires_ms, failures"
)


class _Rollback(Exception):
    """Raised inside a transaction to undo it (install_key_material)."""


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
    appid, keyid, keyspec, origin, keyusage, state, alias, created, expire, primary, period, next_ms = row
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
        rotation_period_days=int(period) if period is not None else None,  # type: ignore[call-overload]
        next_rotation_ms=int(next_ms) if next_ms is not None else None,  # type: ignore[call-overload]
    )


def _version(row: tuple[Any, ...]) -> KeyVersionRecord:
    keyid, version, material, created, state, source = row
    return KeyVersionRecord(
        str(keyid),
        int(version),
        bytes(material) if material is not None else None,
        int(created),
        KeyVersionState(state),
        VersionSource(source),
    )


def _secret(row: tuple[object, ...]) -> SecretRecord:
    appid, secret_id, name, description, keyid, interval, created, updated, rotated, latest, planned = row
    return SecretRecord(
        appid=str(appid),
        secret_id=str(secret_id),
        name=str(name),
        description=str(description),
        encryption_keyid=str(keyid) if keyid is not None else None,
        rotation_interval=str(interval),
        created_ms=int(created),  # type: ignore[call-overload]
        updated_ms=int(updated),  # type: ignore[call-overload]
        last_rotation_ms=int(rotated),  # type: ignore[call-overload]
        latest_version=int(latest),  # type: ignore[call-overload]
        planned_delete_ms=int(planned) if planned is not None else None,  # type: ignore[call-overload]
    )


_KEY_CACHE_ENTRIES = 100_000

# The WAL-index header (https://www.sqlite.org/walformat.html, section 2.2.1): two copies of 48 bytes at the
# start of the -shm file, native byte order; iVersion is 3007000, isInit (byte 12) is 1 once initialised.
_WAL_HEADER_BYTES = 48
_WAL_INDEX_VERSION = struct.pack("=I", 3007000)
_WAL_MAP_BYTES = 136  # both header copies and the checkpoint info: the part SQLite never moves


class WalIndexWatch:
    """Whether any connection committed to a WAL-mode SQLite database, read without a syscall or a lock.

    ``PRAGMA data_version`` answers that by opening a read transaction (two fcntl() calls on the -shm file
    plus statement overhead: about 5 us, most of a cached key lookup); inside, SQLite compares the WAL-index
    header with the one it saw last and counts a change when they differ. This class makes the same
    comparison directly on the header in the -shm file, mapped read-only into this process:

    * every commit, by any connection, rewrites the header (iChange is incremented, mxFrame moves) before
      the commit returns: copy 2 first, then copy 1 (SQLite's walIndexWriteHdr);
    * ``header()`` returns copy 1 only when the two copies are equal, so a header being written (or left
      half-written by a crashed writer, which SQLite recovers on its next read transaction) is never
      trusted: the caller asks SQLite itself (``PRAGMA data_version``) then;
    * an unchanged header therefore means no commit completed in between; a changed one may be a
      checkpoint restarting the WAL (the caller just reloads rows: conservative).

    The mapping uses the file descriptor SQLite itself holds on the -shm file: opening and closing another
    descriptor on it would drop this process's POSIX locks on the file (close() releases all of them),
    SQLite's among them. A mapping needs no descriptor afterwards. The -shm file is not truncated or
    recreated while any connection of this process has the database open (SQLite holds a shared lock on
    its DMS byte for that), and the store unmaps before it closes its connection.

    ``attach`` returns None wherever this cannot be set up safely (not Linux, not WAL mode, no -shm file,
    an unknown header version): the store then uses ``PRAGMA data_version`` on every lookup, as before.
    """

    def __init__(self, address: int) -> None:
        self._address = address
        self._first = (ctypes.c_char * _WAL_HEADER_BYTES).from_address(address)
        self._second = (ctypes.c_char * _WAL_HEADER_BYTES).from_address(address + _WAL_HEADER_BYTES)

    def header(self) -> bytes | None:
        """The current WAL-index header, or None while it is being written."""
        first = self._first.raw
        return first if first == self._second.raw else None

    @classmethod
    def attach(cls, conn: sqlite3.Connection, path: Path) -> WalIndexWatch | None:
        if sys.platform != "linux":
            return None
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            return None
        conn.execute("PRAGMA data_version").fetchone()  # a read transaction: SQLite has the -shm file open
        try:
            shm = os.stat(f"{path}-shm")
        except OSError:
            return None
        if shm.st_size < _WAL_MAP_BYTES:
            return None
        fd = _descriptor_of(shm)
        if fd is None:
            return None
        address = _libc_mmap(fd)
        if address is None:
            return None
        watch = cls(address)
        for _ in range(100):  # another worker may be writing the header right now
            header = watch.header()
            if header is not None:
                if header[:4] == _WAL_INDEX_VERSION and header[12] == 1:
                    return watch
                break
            time.sleep(0.001)
        watch.close()
        return None

    def close(self) -> None:
        """Unmap; the caller drops this object first (reading it afterwards would fault)."""
        if self._address:
            _libc().munmap(self._address, _WAL_MAP_BYTES)
            self._address = 0


def _descriptor_of(target: os.stat_result) -> int | None:
    """A descriptor this process already has open on ``target`` (SQLite's, on the -shm file)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            st = os.fstat(int(name))
        except (OSError, ValueError):
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return int(name)
    return None


@functools.cache
def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mmap.restype = ctypes.c_void_p
    lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    lib.munmap.restype = ctypes.c_int
    lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def _libc_mmap(fd: int) -> int | None:
    """A read-only shared mapping of the start of ``fd``'s file without duplicating the descriptor
    (:mod:`mmap` dups it and closes the dup later, which would drop SQLite's locks)."""
    try:
        address = _libc().mmap(None, _WAL_MAP_BYTES, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    except (OSError, AttributeError):
        return None
    if not address or address == ctypes.c_void_p(-1).value:
        return None
    return int(address)


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        # Key rows read on the hot path, valid while nobody wrote the database: the WAL-index header
        # (WalIndexWatch; SQLite's data_version where the header cannot be read) moves when another
        # connection (another worker) commits, total_changes when this one writes.
        self._keys: dict[tuple[str, str], KeyRecord] = {}
        self._keys_stamp: tuple[bytes | int, int] = (-1, -1)
        self._wal: WalIndexWatch | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        migrate(self._conn)
        self._wal = WalIndexWatch.attach(self._conn, self.path)

    async def close(self) -> None:
        wal, self._wal = self._wal, None
        self._keys.clear()
        self._keys_stamp = (-1, -1)
        if wal is not None:
            wal.close()
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

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        with transaction(self.conn):
            for name, want in expected.items():
                row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
                if (bytes(row[0]) if row else None) != want:
                    return False
            for name, value in values.items():
                self.conn.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
            for name in delete:
                self.conn.execute("DELETE FROM meta WHERE name = ?", (name,))
        return True

    def read_meta_blocking(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    # -- domain-key rotation (base.WRAPPED_KINDS) ----------------------------------------------------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        sql = _WRAPPED_SQL[kind]
        cursor = after if after is not None else sql.first
        rows = self.conn.execute(sql.select, (below, *cursor, limit)).fetchall()
        return [WRAPPED_ROWS[kind](kind, row) for row in rows]

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        changed = 0
        with transaction(self.conn):
            for value, new in changes:
                cur = self.conn.execute(_WRAPPED_SQL[value.kind].update, (new, *value.key, value.wrapped))
                changed += cur.rowcount
        return changed

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        rows = self.conn.execute(_WRAPPED_SQL[kind].count).fetchall()
        return {bytes(prefix): int(n) for prefix, n in rows}

    def backup_to(self, target: Path) -> None:
        """A consistent snapshot of the whole database into the new file ``target`` (created 0600) with
        SQLite's online backup API, in one step (a read transaction: writers go on meanwhile)."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dest = sqlite3.connect(target)
        try:
            self.conn.backup(dest)
        finally:
            dest.close()

    # -- apps -------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None:
        self.conn.execute(
            "INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES (?, ?, ?)",
            (app.appid, app.wrapped_apikey, app.created_ms),
        )

    async def get_app(self, appid: str) -> AppRecord | None:
        row = self.conn.execute(
            "SELECT appid, wrapped_apikey, created_ms, require_signed_action FROM apps WHERE appid = ?", (appid,)
        ).fetchone()
        return AppRecord(row[0], bytes(row[1]), row[2], bool(row[3])) if row else None

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        with transaction(self.conn):
            cur = self.conn.execute("UPDATE apps SET require_signed_action = ? WHERE appid = ?", (int(required), appid))
        return cur.rowcount == 1

    # -- keys -------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        with transaction(self.conn):
            self.conn.execute(
                f"INSERT INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    key.rotation_period_days,
                    key.next_rotation_ms,
                ),
            )
            self._insert_key_version(version)

    def _insert_key_version(self, version: KeyVersionRecord) -> None:
        self.conn.execute(
            "INSERT INTO key_versions (keyid, version, wrapped_material, created_ms, state, source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                version.keyid,
                version.version,
                version.wrapped_material,
                version.created_ms,
                version.state.value,
                version.source.value,
            ),
        )

    def cached_key(self, appid: str, keyid: str) -> KeyRecord | None:
        """The key row if this process read it since the last commit by any connection, else None.

        Synchronous (no I/O while the WAL-index header is mapped) so the request path can skip a coroutine;
        ``get_key`` is this plus the SELECT on a miss.
        """
        conn = self._conn
        if conn is None:
            raise RuntimeError("store is not open")
        wal = self._wal
        header = wal.header() if wal is not None else None
        if header is None:  # no mapped header, or it is being written: ask SQLite
            stamp: tuple[bytes | int, int] = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        else:
            stamp = (header, conn.total_changes)
        if stamp != self._keys_stamp:
            self._keys.clear()
            self._keys_stamp = stamp
            return None
        return self._keys.get((appid, keyid))

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None:
        cached = self.cached_key(appid, keyid)  # validates the cache against the database first
        if cached is not None:
            return cached
        row = self.conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE keyid = ? AND appid = ?",
            (keyid, appid),
        ).fetchone()
        if not row:
            return None
        record = _key(row)
        if len(self._keys) >= _KEY_CACHE_ENTRIES:
            self._keys.clear()
        self._keys[(appid, keyid)] = record
        return record

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        row = self.conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = ? AND v.version = ? AND k.appid = ?",
            (keyid, version, appid),
        ).fetchone()
        return _version(row) if row else None

    async def add_key_version(
        self, appid: str, keyid: str, seal: SealKeyVersion, *, make_primary: bool, due_ms: int | None = None
    ) -> KeyVersionRecord | None:
        with transaction(self.conn):  # BEGIN IMMEDIATE: writers of every process queue here
            row = self.conn.execute(
                "SELECT (SELECT MAX(version) FROM key_versions WHERE keyid = k.keyid), k.next_rotation_ms, "
                "k.rotation_period_days FROM keys k WHERE k.keyid = ? AND k.appid = ?",
                (keyid, appid),
            ).fetchone()
            if row is None:
                return None
            latest, next_ms, period = row
            if due_ms is not None and (next_ms is None or next_ms > due_ms):
                return None
            version = seal(int(latest or 0) + 1)
            self._insert_key_version(version)
            if make_primary:
                self.conn.execute("UPDATE keys SET primary_version = ? WHERE keyid = ?", (version.version, keyid))
            if due_ms is not None:
                self.conn.execute(
                    "UPDATE keys SET next_rotation_ms = ? WHERE keyid = ?",
                    (version.created_ms + int(period) * _DAY_MS if period is not None else None, keyid),
                )
        return version

    async def list_key_versions(self, appid: str, keyid: str) -> list[KeyVersionInfo]:
        rows = self.conn.execute(
            "SELECT v.version, v.created_ms, v.state, v.source, v.wrapped_material IS NOT NULL FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = ? AND k.appid = ? ORDER BY v.version",
            (keyid, appid),
        ).fetchall()
        return [
            KeyVersionInfo(int(r[0]), int(r[1]), KeyVersionState(r[2]), VersionSource(r[3]), bool(r[4])) for r in rows
        ]

    async def set_primary_version(self, appid: str, keyid: str, version: int) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET primary_version = ? WHERE keyid = ? AND appid = ? AND EXISTS (SELECT 1 FROM "
            "key_versions v WHERE v.keyid = keys.keyid AND v.version = ? AND v.state = ? "
            "AND v.wrapped_material IS NOT NULL)",
            (version, keyid, appid, version, KeyVersionState.ENABLED.value),
        )
        return cur.rowcount == 1

    async def set_key_version_state(self, appid: str, keyid: str, version: int, state: KeyVersionState) -> bool:
        cur = self.conn.execute(
            "UPDATE key_versions SET state = ? WHERE keyid = ? AND version = ? AND EXISTS (SELECT 1 FROM keys k "
            "WHERE k.keyid = key_versions.keyid AND k.appid = ? AND (? OR k.primary_version <> ?))",
            (state.value, keyid, version, appid, state is KeyVersionState.ENABLED, version),
        )
        return cur.rowcount == 1

    async def set_key_rotation(
        self, appid: str, keyid: str, period_days: int | None, next_rotation_ms: int | None
    ) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET rotation_period_days = ?, next_rotation_ms = ? WHERE keyid = ? AND appid = ?",
            (period_days, next_rotation_ms, keyid, appid),
        )
        return cur.rowcount == 1

    async def list_due_rotations(self, now_ms: int, limit: int) -> list[KeyRecord]:
        rows = self.conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= ? "
            "ORDER BY next_rotation_ms, keyid LIMIT ?",
            (now_ms, limit),
        ).fetchall()
        return [_key(row) for row in rows]

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

    # -- secrets ----------------------------------------------------------------------------------
    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None:
        row = self.conn.execute(
            "SELECT appid, keyid, wrapped_material, created_ms FROM secret_keys WHERE appid = ?", (appid,)
        ).fetchone()
        return SecretsKeyRecord(row[0], row[1], bytes(row[2]), row[3]) if row else None

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO secret_keys (appid, keyid, wrapped_material, created_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (appid) DO NOTHING",
                (key.appid, key.keyid, key.wrapped_material, key.created_ms),
            )
            stored = await self.get_secrets_key(key.appid)
        if stored is None:  # pragma: no cover - the row was just written in this transaction
            raise RuntimeError("secrets key vanished")
        return stored

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        with transaction(self.conn):
            # A same-named secret whose deletion is due is gone already; the purge job may not have run yet.
            self.conn.execute(
                "DELETE FROM secrets WHERE appid = ? AND name = ? AND planned_delete_ms <= ?",
                (secret.appid, secret.name, now_ms),
            )
            cur = self.conn.execute(
                f"INSERT INTO secrets ({_SECRET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (appid, name) DO NOTHING",
                (
                    secret.appid,
                    secret.secret_id,
                    secret.name,
                    secret.description,
                    secret.encryption_keyid,
                    secret.rotation_interval,
                    secret.created_ms,
                    secret.updated_ms,
                    secret.last_rotation_ms,
                    secret.latest_version,
                    secret.planned_delete_ms,
                ),
            )
            if cur.rowcount != 1:
                return False
            self._insert_secret_version(version)
        return True

    def _insert_secret_version(self, version: SecretVersionRecord) -> None:
        self.conn.execute(
            "INSERT INTO secret_versions (secret_id, version, wrapped_data_key, sealed_value, created_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (version.secret_id, version.version, version.wrapped_data_key, version.sealed_value, version.created_ms),
        )

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None:
        row = self.conn.execute(
            f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = ? AND name = ? AND {_SECRET_LIVE}",
            (appid, name, now_ms),
        ).fetchone()
        return _secret(row) if row else None

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        if name is None:
            rows = self.conn.execute(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = ? AND {_SECRET_LIVE} "
                "ORDER BY created_ms, name LIMIT ?",
                (appid, now_ms, limit),
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = ? AND name = ? AND {_SECRET_LIVE}",
                (appid, name, now_ms),
            ).fetchall()
        return [_secret(row) for row in rows]

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            "UPDATE secrets SET description = ?, updated_ms = ? "
            "WHERE secret_id = ? AND appid = ? AND planned_delete_ms IS NULL",
            (description, now_ms, secret_id, appid),
        )
        return cur.rowcount == 1

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        with transaction(self.conn):  # BEGIN IMMEDIATE: writers of every process and thread queue here
            row = self.conn.execute(
                "SELECT latest_version FROM secrets WHERE secret_id = ? AND appid = ? AND planned_delete_ms IS NULL",
                (secret_id, appid),
            ).fetchone()
            if row is None:
                return None
            version = seal(int(row[0]) + 1)
            self.conn.execute(
                "UPDATE secrets SET latest_version = ?, updated_ms = ?, last_rotation_ms = ? WHERE secret_id = ?",
                (version.version, now_ms, version.created_ms, secret_id),
            )
            self._insert_secret_version(version)
        return version.version

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None:
        row = self.conn.execute(
            "SELECT v.secret_id, v.version, v.wrapped_data_key, v.sealed_value, v.created_ms FROM secret_versions v "
            "JOIN secrets s ON s.secret_id = v.secret_id WHERE v.secret_id = ? AND v.version = ? AND s.appid = ?",
            (secret_id, version, appid),
        ).fetchone()
        return SecretVersionRecord(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4]) if row else None

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        rows = self.conn.execute(
            "SELECT v.version, v.created_ms FROM secret_versions v JOIN secrets s ON s.secret_id = v.secret_id "
            "WHERE v.secret_id = ? AND s.appid = ? ORDER BY v.version DESC LIMIT ?",
            (secret_id, appid, limit),
        ).fetchall()
        return [SecretVersionInfo(row[0], row[1]) for row in rows]

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        cur = self.conn.execute(
            f"UPDATE secrets SET planned_delete_ms = ? WHERE secret_id = ? AND appid = ? AND {_SECRET_LIVE}",
            (planned_delete_ms, secret_id, appid, now_ms),
        )
        return cur.rowcount == 1

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        cur = self.conn.execute(
            f"UPDATE secrets SET planned_delete_ms = NULL WHERE secret_id = ? AND appid = ? AND {_SECRET_LIVE}",
            (secret_id, appid, now_ms),
        )
        return cur.rowcount == 1

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM secrets WHERE secret_id = ? AND appid = ?", (secret_id, appid))
        return cur.rowcount == 1

    async def purge_secrets(self, now_ms: int) -> int:
        # One statement; versions go with their secret (ON DELETE CASCADE). Concurrent runs delete each row once.
        cur = self.conn.execute(
            "DELETE FROM secrets WHERE planned_delete_ms IS NOT NULL AND planned_delete_ms <= ?", (now_ms,)
        )
        return cur.rowcount

    # -- quote policies ---------------------------------------------------------------------------
    async def insert_quote_policy(self, policy: QuotePolicyRecord) -> None:
        self.conn.execute(
            f"INSERT INTO quote_policies ({_QUOTE_POLICY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                policy.appid,
                policy.policy_id,
                policy.mr_enclave,
                policy.mr_signer,
                policy.mr_td,
                *policy.rtmrs,
                policy.created_ms,
            ),
        )

    async def get_quote_policy(self, appid: str, policy_id: str) -> QuotePolicyRecord | None:
        row = self.conn.execute(
            f"SELECT {_QUOTE_POLICY_COLUMNS} FROM quote_policies WHERE policy_id = ? AND appid = ?",
            (policy_id, appid),
        ).fetchone()
        if row is None:
            return None
        app, pid, mr_enclave, mr_signer, mr_td, rtmr0, rtmr1, rtmr2, rtmr3, created = row
        return QuotePolicyRecord(
            appid=app,
            policy_id=pid,
            mr_enclave=mr_enclave,
            mr_signer=mr_signer,
            mr_td=mr_td,
            rtmrs=(rtmr0, rtmr1, rtmr2, rtmr3),
            created_ms=int(created),
        )

    # -- BYOK import parameters -------------------------------------------------------------------
    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        cur = self.conn.execute(
            f"INSERT INTO import_tokens ({_IMPORT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k JOIN key_versions v ON v.keyid = k.keyid AND v.version = 1 "
            "WHERE k.keyid = ? AND k.appid = ? AND k.state = ? AND v.wrapped_material IS NULL) "
            "ON CONFLICT (keyid) DO UPDATE SET token_id = excluded.token_id, "
            "wrapping_keyspec = excluded.wrapping_keyspec, public_key = excluded.public_key, "
            "wrapped_private_key = excluded.wrapped_private_key, created_ms = excluded.created_ms, "
            "expires_ms = excluded.expires_ms, failures = 0 WHERE import_tokens.appid = excluded.appid",
            (
                params.appid,
                params.keyid,
                params.token_id,
                params.wrapping_keyspec,
                params.public_key,
                params.wrapped_private_key,
                params.created_ms,
                params.expires_ms,
                params.keyid,
                params.appid,
                KeyState.PENDING_IMPORT.value,
            ),
        )
        return cur.rowcount == 1

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        row = self.conn.execute(
            f"SELECT {_IMPORT_COLUMNS} FROM import_tokens WHERE keyid = ? AND appid = ?", (keyid, appid)
        ).fetchone()
        if row is None:
            return None
        app, kid, token_id, keyspec, public, wrapped, created, expires, failures = row
        return ImportParamsRecord(
            str(app), str(kid), str(token_id), str(keyspec), bytes(public), bytes(wrapped), created, expires, failures
        )

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        where = "WHERE keyid = ? AND appid = ? AND token_id = ?"
        with transaction(self.conn):
            cur = self.conn.execute(
                f"UPDATE import_tokens SET failures = failures + 1 {where}", (keyid, appid, token_id)
            )
            if cur.rowcount != 1:
                return False
            cur = self.conn.execute(
                f"DELETE FROM import_tokens {where} AND failures >= ?", (keyid, appid, token_id, max_failures)
            )
        return cur.rowcount == 0

    async def install_key_material(self, appid: str, keyid: str, token_id: str, wrapped_material: bytes) -> bool:
        try:
            with transaction(self.conn):
                steps = (
                    (
                        "DELETE FROM import_tokens WHERE keyid = ? AND appid = ? AND token_id = ?",
                        (keyid, appid, token_id),
                    ),
                    (
                        "UPDATE keys SET state = ? WHERE keyid = ? AND appid = ? AND state = ?",
                        (KeyState.ENABLED.value, keyid, appid, KeyState.PENDING_IMPORT.value),
                    ),
                    (
                        "UPDATE key_versions SET wrapped_material = ? "
                        "WHERE keyid = ? AND version = 1 AND wrapped_material IS NULL",
                        (wrapped_material, keyid),
                    ),
                )
                for sql, args in steps:
                    if self.conn.execute(sql, args).rowcount != 1:
                        raise _Rollback
        except _Rollback:
            return False
        return True

    async def purge_import_params(self, now_ms: int) -> int:
        return self.conn.execute("DELETE FROM import_tokens WHERE expires_ms <= ?", (now_ms,)).rowcount

    # -- export / import (pyehsm export|import; PortableStore) ---------------------------------------
    async def schema_version(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    async def tables(self) -> list[TableInfo]:
        names = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name <> 'schema_version' ORDER BY name"
            )
        ]
        found = []
        for name in names:
            quoted = _quote(name)
            columns = tuple(str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({quoted})"))
            parents = frozenset(str(r[2]) for r in self.conn.execute(f"PRAGMA foreign_key_list({quoted})")) - {name}
            found.append(TableInfo(name, columns, parents))
        return found

    async def count_rows(self, table: TableInfo) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {_quote(table.name)}").fetchone()[0])

    async def dump(
        self, tables: list[TableInfo], batch: int = 1000
    ) -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        with transaction(self.conn, "DEFERRED"):  # one WAL read snapshot for every table
            for table in tables:
                cols = ", ".join(_quote(c) for c in table.columns)
                cur = self.conn.execute(f"SELECT {cols} FROM {_quote(table.name)}")
                while rows := cur.fetchmany(batch):
                    yield table, [tuple(row) for row in rows]

    async def load(self, batches: AsyncIterable[tuple[TableInfo, list[tuple[Any, ...]]]]) -> None:
        with transaction(self.conn):
            async for table, rows in batches:
                cols = ", ".join(_quote(c) for c in table.columns)
                marks = ", ".join("?" for _ in table.columns)
                self.conn.executemany(f"INSERT INTO {_quote(table.name)} ({cols}) VALUES ({marks})", rows)


@dataclass(frozen=True, slots=True)
class _WrappedSql:
    """SQL for one DK-wrapped column (base.WRAPPED_KINDS): page, compare-and-swap, count per header."""

    select: str  # params: below, *cursor, limit -> rows (*key, *owner-only fields, wrapped)
    update: str  # params: new, *key, old
    count: str
    first: tuple[str | int, ...]  # a cursor below every real key


_WRAPPED_SQL = {
    "cmk": _WrappedSql(
        select="SELECT v.keyid, v.version, k.appid, k.keyspec, v.wrapped_material FROM key_versions v "
        "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL "
        "AND substr(v.wrapped_material, 1, 5) < ? AND (v.keyid, v.version) > (?, ?) "
        "ORDER BY v.keyid, v.version LIMIT ?",
        update="UPDATE key_versions SET wrapped_material = ? WHERE keyid = ? AND version = ? AND wrapped_material = ?",
        count="SELECT substr(wrapped_material, 1, 5), COUNT(*) FROM key_versions "
        "WHERE wrapped_material IS NOT NULL GROUP BY 1",
        first=("", -1),
    ),
    "apikey": _WrappedSql(
        select="SELECT appid, wrapped_apikey FROM apps WHERE substr(wrapped_apikey, 1, 5) < ? AND appid > ? "
        "ORDER BY appid LIMIT ?",
        update="UPDATE apps SET wrapped_apikey = ? WHERE appid = ? AND wrapped_apikey = ?",
        count="SELECT substr(wrapped_apikey, 1, 5), COUNT(*) FROM apps GROUP BY 1",
        first=("",),
    ),
    "secrets_key": _WrappedSql(
        select="SELECT appid, keyid, wrapped_material FROM secret_keys WHERE substr(wrapped_material, 1, 5) < ? "
        "AND appid > ? ORDER BY appid LIMIT ?",
        update="UPDATE secret_keys SET wrapped_material = ? WHERE appid = ? AND wrapped_material = ?",
        count="SELECT substr(wrapped_material, 1, 5), COUNT(*) FROM secret_keys GROUP BY 1",
        first=("",),
    ),
    "import_key": _WrappedSql(
        select="SELECT keyid, appid, token_id, wrapping_keyspec, wrapped_private_key FROM import_tokens "
        "WHERE substr(wrapped_private_key, 1, 5) < ? AND keyid > ? ORDER BY keyid LIMIT ?",
        update="UPDATE import_tokens SET wrapped_private_key = ? WHERE keyid = ? AND wrapped_private_key = ?",
        count="SELECT substr(wrapped_private_key, 1, 5), COUNT(*) FROM import_tokens GROUP BY 1",
        first=("",),
    ),
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
