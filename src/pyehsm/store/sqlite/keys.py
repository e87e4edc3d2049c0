"""Key rows and key versions, and this worker's key-row cache (valid until any connection commits)."""

from __future__ import annotations

from pyehsm.store.records import (
    KeyRecord,
    KeyState,
    KeyVersionInfo,
    KeyVersionRecord,
    KeyVersionState,
    SealKeyVersion,
    VersionSource,
)
from pyehsm.store.rows import (
    CANCELLED_STATE,
    DAY_MS,
    KEY_AND_PRIMARY,
    KEY_COLUMN_COUNT,
    KEY_COLUMNS,
    VERSION_COLUMNS,
    VERSION_INSERT,
    VERSION_INSERT_COUNT,
    check_bulk,
    key_from_row,
    key_params,
    version_from_row,
    version_params,
)
from pyehsm.store.sqlite.connection import SqliteBase, transaction

_INSERT_KEY = f"INSERT INTO keys ({KEY_COLUMNS}) VALUES ({', '.join('?' * KEY_COLUMN_COUNT)})"
# ListKey's pages: ranges of the keys_listing index (migration 0014), by (created_ms, keyid) after a cursor.
LIST_KEYS = f"SELECT {KEY_COLUMNS} FROM keys WHERE appid = ? ORDER BY created_ms, keyid LIMIT ?"
LIST_KEYS_AFTER = (
    f"SELECT {KEY_COLUMNS} FROM keys WHERE appid = ? AND (created_ms, keyid) > (?, ?) "
    "ORDER BY created_ms, keyid LIMIT ?"
)
_INSERT_VERSION = f"INSERT INTO {VERSION_INSERT} VALUES ({', '.join('?' * VERSION_INSERT_COUNT)})"


class KeyRows(SqliteBase):
    """The Store's key and key-version methods."""

    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        with transaction(self.conn):
            self.conn.execute(_INSERT_KEY, key_params(key))
            self._insert_key_version(version)

    async def insert_keys(self, keys: list[tuple[KeyRecord, KeyVersionRecord]]) -> None:
        check_bulk(keys)
        with transaction(self.conn):
            self.conn.executemany(_INSERT_KEY, [key_params(key) for key, _ in keys])
            self.conn.executemany(_INSERT_VERSION, [(v.keyid, *version_params(v)) for _, v in keys])

    def _insert_key_version(self, version: KeyVersionRecord) -> None:
        self.conn.execute(_INSERT_VERSION, (version.keyid, *version_params(version)))

    def cached_key(self, appid: str, keyid: str) -> KeyRecord | None:
        """The key row if this process read it since the last commit by any connection, else None.

        Synchronous (no I/O while the WAL-index header is mapped) so the request path can skip a coroutine;
        ``get_key`` is this plus the SELECT on a miss.
        """
        return self._keys.get(self.commit_stamp(), (appid, keyid))

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None:
        cached = self.cached_key(appid, keyid)  # validates the cache against the database first
        if cached is not None:
            return cached
        row = self.conn.execute(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE keyid = ? AND appid = ?",
            (keyid, appid),
        ).fetchone()
        if not row:
            return None
        record = key_from_row(row)
        self._keys.put((record.appid, record.keyid), record)
        return record

    async def get_key_and_primary(self, appid: str, keyid: str) -> tuple[KeyRecord, bytes | None] | None:
        self.cached_key(appid, keyid)  # validates the row cache against the database before a put
        row = self.conn.execute(f"{KEY_AND_PRIMARY}k.keyid = ? AND k.appid = ?", (keyid, appid)).fetchone()
        if not row:
            return None
        record = key_from_row(row[:-1])
        self._keys.put((record.appid, record.keyid), record)
        return record, row[-1]

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        row = self.conn.execute(
            f"SELECT {VERSION_COLUMNS} FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = ? AND v.version = ? AND k.appid = ?",
            (keyid, version, appid),
        ).fetchone()
        return version_from_row(row) if row else None

    async def add_key_version(
        self, appid: str, keyid: str, seal: SealKeyVersion, *, make_primary: bool, due_ms: int | None = None
    ) -> KeyVersionRecord | None:
        with transaction(self.conn):  # BEGIN IMMEDIATE: writers of every process queue here
            row = self.conn.execute(
                "SELECT (SELECT MAX(version) FROM key_versions WHERE keyid = k.keyid), k.next_rotation_ms, "
                "k.rotation_period_days, k.state FROM keys k WHERE k.keyid = ? AND k.appid = ?",
                (keyid, appid),
            ).fetchone()
            if row is None:
                return None
            latest, next_ms, period, state = row
            # a key pending deletion is never rotated automatically (docs/key-rotation.md)
            if due_ms is not None and (next_ms is None or next_ms > due_ms or state == KeyState.PENDING_DELETION.value):
                return None
            version = seal(int(latest or 0) + 1)
            self._insert_key_version(version)
            if make_primary:
                self.conn.execute("UPDATE keys SET primary_version = ? WHERE keyid = ?", (version.version, keyid))
            if due_ms is not None:
                self.conn.execute(
                    "UPDATE keys SET next_rotation_ms = ? WHERE keyid = ?",
                    (version.created_ms + int(period) * DAY_MS if period is not None else None, keyid),
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

    async def set_min_decryption_version(self, appid: str, keyid: str, version: int) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET min_decryption_version = ? WHERE keyid = ? AND appid = ?", (version, keyid, appid)
        )
        return cur.rowcount == 1

    async def list_due_rotations(self, now_ms: int, limit: int) -> list[KeyRecord]:
        rows = self.conn.execute(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= ? "
            "AND state <> ? ORDER BY next_rotation_ms, keyid LIMIT ?",
            (now_ms, KeyState.PENDING_DELETION.value, limit),
        ).fetchall()
        return [key_from_row(row) for row in rows]

    async def list_keys(
        self, appid: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[KeyRecord]:
        cap = -1 if limit is None else limit
        if after is None:
            rows = self.conn.execute(LIST_KEYS, (appid, cap)).fetchall()
        else:
            rows = self.conn.execute(LIST_KEYS_AFTER, (appid, after[0], after[1], cap)).fetchall()
        return [key_from_row(row) for row in rows]

    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET state = ? WHERE keyid = ? AND appid = ? AND state <> ?",
            (state.value, keyid, appid, KeyState.PENDING_DELETION.value),
        )
        return cur.rowcount == 1

    async def set_key_description(self, appid: str, keyid: str, description: str) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET description = ? WHERE keyid = ? AND appid = ?", (description, keyid, appid)
        )
        return cur.rowcount == 1

    async def schedule_key_deletion(self, appid: str, keyid: str, deletion_ms: int) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET state = ?, deletion_ms = ? WHERE keyid = ? AND appid = ? AND state <> ?",
            (KeyState.PENDING_DELETION.value, deletion_ms, keyid, appid, KeyState.PENDING_DELETION.value),
        )
        return cur.rowcount == 1

    async def cancel_key_deletion(self, appid: str, keyid: str) -> bool:
        cur = self.conn.execute(
            f"UPDATE keys SET state = {CANCELLED_STATE}, deletion_ms = NULL "
            "WHERE keyid = ? AND appid = ? AND state = ?",
            (keyid, appid, KeyState.PENDING_DELETION.value),
        )
        return cur.rowcount == 1

    async def purge_due_keys(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        with transaction(self.conn):  # BEGIN IMMEDIATE: one writer at a time, each due row deleted once
            rows = self.conn.execute(
                "DELETE FROM keys WHERE keyid IN (SELECT keyid FROM keys WHERE state = ? AND deletion_ms <= ? "
                "ORDER BY deletion_ms, keyid LIMIT ?) RETURNING appid, keyid",
                (KeyState.PENDING_DELETION.value, now_ms, limit),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    async def delete_key(self, appid: str, keyid: str) -> bool:
        with transaction(self.conn):
            cur = self.conn.execute("DELETE FROM keys WHERE keyid = ? AND appid = ?", (keyid, appid))
        return cur.rowcount == 1

    async def delete_all_keys(self, appid: str) -> list[str]:
        with transaction(self.conn):
            ids = [r[0] for r in self.conn.execute("SELECT keyid FROM keys WHERE appid = ?", (appid,))]
            self.conn.execute("DELETE FROM keys WHERE appid = ?", (appid,))
        return ids
