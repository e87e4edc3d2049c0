"""Key rows and key versions (the key row is read through the row cache; every change notifies)."""

from __future__ import annotations

import functools

from pyehsm.store.postgres.batched import BatchedLookup
from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, evicts_key
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
    check_bulk,
    key_from_row,
    key_params,
    version_from_row,
    version_params,
)

_PLACEHOLDERS = ", ".join(["%s"] * KEY_COLUMN_COUNT)
# ListKey's pages: ranges of the keys_listing index (migration 0014), by (created_ms, keyid) after a cursor.
LIST_KEYS = f"SELECT {KEY_COLUMNS} FROM keys WHERE appid = %s ORDER BY created_ms, keyid LIMIT %s"
LIST_KEYS_AFTER = (
    f"SELECT {KEY_COLUMNS} FROM keys WHERE appid = %s AND (created_ms, keyid) > (%s, %s) "
    "ORDER BY created_ms, keyid LIMIT %s"
)
# The key rows (with their primary's material) of a batch of (keyid, appid) pairs: a key is found only
# under its own app (a keyid of another app matches no pair).
KEYS_AND_PRIMARIES = f"{KEY_AND_PRIMARY}(k.keyid, k.appid) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
KeyAndPrimary = tuple[KeyRecord, bytes | None]


class KeyRows(PostgresBase):
    """The Store's key and key-version methods."""

    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        # One statement: both rows or neither.
        await self.query_one(
            f"WITH k AS (INSERT INTO keys ({KEY_COLUMNS}) VALUES ({_PLACEHOLDERS}) RETURNING keyid) "
            f"INSERT INTO {VERSION_INSERT} SELECT keyid, %s, %s, %s, %s, %s, %s FROM k RETURNING 1",
            (*key_params(key), *version_params(version)),
        )

    async def insert_keys(self, keys: list[tuple[KeyRecord, KeyVersionRecord]]) -> None:
        # COPY both tables in one transaction: the fastest bulk path psycopg offers (no statement per row).
        check_bulk(keys)
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor().copy(f"COPY keys ({KEY_COLUMNS}) FROM STDIN".encode()) as copy:
                for key, _ in keys:
                    await copy.write_row(key_params(key))
            async with conn.cursor().copy(f"COPY {VERSION_INSERT} FROM STDIN".encode()) as copy:
                for _, version in keys:
                    await copy.write_row((version.keyid, *version_params(version)))

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None:
        cache = self.cache
        if cache is None:
            return await self._read_key(appid, keyid)
        cached = cache.key(appid, keyid)
        if cached is not None:
            return cached
        epoch = cache.epoch
        record = await self._read_key(appid, keyid)
        if record is not None:
            cache.keep_key(record, epoch)
        return record

    async def _read_key(self, appid: str, keyid: str) -> KeyRecord | None:
        row = await self.query_one(f"SELECT {KEY_COLUMNS} FROM keys WHERE keyid = %s AND appid = %s", (keyid, appid))
        return key_from_row(row) if row else None

    def cached_key(self, appid: str, keyid: str) -> KeyRecord | None:
        """The key row from the row cache (no I/O), else None: the request path's hit without a coroutine
        (KeyService.resolve_cached); on None it reads through ``get_key_and_primary``."""
        cache = self.cache
        return cache.key(appid, keyid) if cache is not None else None

    async def get_key_and_primary(self, appid: str, keyid: str) -> KeyAndPrimary | None:
        """The request path's miss: grouped with this process's concurrent misses into one SELECT
        (store/postgres/batched.py), the rows kept in the row cache as ``get_key`` keeps them."""
        return await self._key_reads.get((appid, keyid))

    @functools.cached_property
    def _key_reads(self) -> BatchedLookup[tuple[str, str], KeyAndPrimary]:
        return BatchedLookup(self._read_keys_and_primaries)

    async def _read_keys_and_primaries(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], KeyAndPrimary]:
        cache = self.cache
        epoch = cache.epoch if cache is not None else 0  # a row read across an invalidation is not kept
        rows = await self.query_grouped(
            KEYS_AND_PRIMARIES, ([keyid for _, keyid in wanted], [appid for appid, _ in wanted])
        )
        found: dict[tuple[str, str], KeyAndPrimary] = {}
        for row in rows:
            record = key_from_row(row[:-1])
            if cache is not None:
                cache.keep_key(record, epoch)
            wrapped = row[-1]
            found[(record.appid, record.keyid)] = (record, bytes(wrapped) if wrapped is not None else None)
        return found

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        row = await self.query_one(
            f"SELECT {VERSION_COLUMNS} FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = %s AND v.version = %s AND k.appid = %s",
            (keyid, version, appid),
        )
        return version_from_row(row) if row else None

    @evicts_key
    async def add_key_version(
        self, appid: str, keyid: str, seal: SealKeyVersion, *, make_primary: bool, due_ms: int | None = None
    ) -> KeyVersionRecord | None:
        async with self.pool.connection() as conn, conn.transaction():
            # Writers of one key queue on its row lock (FOR UPDATE); each then reads, in a statement of its
            # own (a fresh READ COMMITTED snapshot), the versions its predecessor committed. With due_ms, the
            # second of two nodes finds next_rotation_ms moved and adds nothing.
            cur = await conn.execute(
                "SELECT next_rotation_ms, rotation_period_days, state FROM keys WHERE keyid = %s AND appid = %s "
                "FOR UPDATE",
                (keyid, appid),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            next_ms, period, state = row
            cur = await conn.execute("SELECT MAX(version) FROM key_versions WHERE keyid = %s", (keyid,))
            latest_row = await cur.fetchone()
            latest = latest_row[0] if latest_row else None
            # a key pending deletion is never rotated automatically (docs/key-rotation.md)
            if due_ms is not None and (next_ms is None or next_ms > due_ms or state == KeyState.PENDING_DELETION.value):
                return None
            version = seal(int(latest or 0) + 1)
            await conn.execute(
                f"INSERT INTO {VERSION_INSERT} VALUES (%s, %s, %s, %s, %s, %s, %s)".encode(),
                (version.keyid, *version_params(version)),
            )
            if make_primary:
                await conn.execute("UPDATE keys SET primary_version = %s WHERE keyid = %s", (version.version, keyid))
            if due_ms is not None:
                next_rotation = version.created_ms + int(period) * DAY_MS if period is not None else None
                await conn.execute("UPDATE keys SET next_rotation_ms = %s WHERE keyid = %s", (next_rotation, keyid))
            await conn.execute("SELECT pg_notify(%s, %s)", (INVALIDATION_CHANNEL, f"k:{keyid}"))
        return version

    async def list_key_versions(self, appid: str, keyid: str) -> list[KeyVersionInfo]:
        rows = await self.query_all(
            "SELECT v.version, v.created_ms, v.state, v.source, v.wrapped_material IS NOT NULL FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = %s AND k.appid = %s ORDER BY v.version",
            (keyid, appid),
        )
        return [
            KeyVersionInfo(int(r[0]), int(r[1]), KeyVersionState(r[2]), VersionSource(r[3]), bool(r[4])) for r in rows
        ]

    @evicts_key
    async def set_primary_version(self, appid: str, keyid: str, version: int) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET primary_version = %s WHERE keyid = %s AND appid = %s AND EXISTS ("
            "SELECT 1 FROM key_versions v WHERE v.keyid = keys.keyid AND v.version = %s AND v.state = %s "
            "AND v.wrapped_material IS NOT NULL) RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (version, keyid, appid, version, KeyVersionState.ENABLED.value, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @evicts_key
    async def set_key_version_state(self, appid: str, keyid: str, version: int, state: KeyVersionState) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE key_versions SET state = %s WHERE keyid = %s AND version = %s AND EXISTS ("
            "SELECT 1 FROM keys k WHERE k.keyid = key_versions.keyid AND k.appid = %s "
            "AND (%s OR k.primary_version <> %s)) RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (
                state.value,
                keyid,
                version,
                appid,
                state is KeyVersionState.ENABLED,
                version,
                INVALIDATION_CHANNEL,
            ),
        )
        return len(rows) == 1

    @evicts_key
    async def set_key_rotation(
        self, appid: str, keyid: str, period_days: int | None, next_rotation_ms: int | None
    ) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET rotation_period_days = %s, next_rotation_ms = %s "
            "WHERE keyid = %s AND appid = %s RETURNING keyid) SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (period_days, next_rotation_ms, keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @evicts_key
    async def set_min_decryption_version(self, appid: str, keyid: str, version: int) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET min_decryption_version = %s WHERE keyid = %s AND appid = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (version, keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    async def list_due_rotations(self, now_ms: int, limit: int) -> list[KeyRecord]:
        rows = await self.query_all(
            f"SELECT {KEY_COLUMNS} FROM keys WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= %s "
            "AND state <> %s ORDER BY next_rotation_ms, keyid LIMIT %s",
            (now_ms, KeyState.PENDING_DELETION.value, limit),
        )
        return [key_from_row(row) for row in rows]

    async def list_keys(
        self, appid: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[KeyRecord]:
        if after is None:
            rows = await self.query_all(LIST_KEYS, (appid, limit))
        else:
            rows = await self.query_all(LIST_KEYS_AFTER, (appid, after[0], after[1], limit))
        return [key_from_row(row) for row in rows]

    @evicts_key
    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET state = %s WHERE keyid = %s AND appid = %s AND state <> %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (state.value, keyid, appid, KeyState.PENDING_DELETION.value, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @evicts_key
    async def set_key_description(self, appid: str, keyid: str, description: str) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET description = %s WHERE keyid = %s AND appid = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (description, keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @evicts_key
    async def schedule_key_deletion(self, appid: str, keyid: str, deletion_ms: int) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET state = %s, deletion_ms = %s WHERE keyid = %s AND appid = %s "
            "AND state <> %s RETURNING keyid) SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (
                KeyState.PENDING_DELETION.value,
                deletion_ms,
                keyid,
                appid,
                KeyState.PENDING_DELETION.value,
                INVALIDATION_CHANNEL,
            ),
        )
        return len(rows) == 1

    @evicts_key
    async def cancel_key_deletion(self, appid: str, keyid: str) -> bool:
        rows = await self.query_all(
            f"WITH u AS (UPDATE keys SET state = {CANCELLED_STATE}, deletion_ms = NULL "
            "WHERE keyid = %s AND appid = %s AND state = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (keyid, appid, KeyState.PENDING_DELETION.value, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    async def purge_due_keys(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        # One statement: rows another node is deleting are skipped (SKIP LOCKED), and a row it deleted first
        # is gone when this DELETE re-checks it, so each due key is deleted (and returned) exactly once.
        rows = await self.query_all(
            "WITH d AS (DELETE FROM keys WHERE keyid IN (SELECT keyid FROM keys WHERE state = %s "
            "AND deletion_ms <= %s ORDER BY deletion_ms, keyid LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING appid, keyid) SELECT appid, keyid, pg_notify(%s, 'k:' || keyid) FROM d",
            (KeyState.PENDING_DELETION.value, now_ms, limit, INVALIDATION_CHANNEL),
        )
        deleted = [(str(r[0]), str(r[1])) for r in rows]
        if self.cache is not None:
            for _, keyid in deleted:
                self.cache.evict_key(keyid)
        return deleted

    @evicts_key
    async def delete_key(self, appid: str, keyid: str) -> bool:
        rows = await self.query_all(
            "WITH d AS (DELETE FROM keys WHERE keyid = %s AND appid = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM d",
            (keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    async def delete_all_keys(self, appid: str) -> list[str]:
        rows = await self.query_all(
            "WITH d AS (DELETE FROM keys WHERE appid = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM d",
            (appid, INVALIDATION_CHANNEL),
        )
        deleted = [str(row[0]) for row in rows]
        if self.cache is not None:
            for keyid in deleted:
                self.cache.evict_key(keyid)
        return deleted
