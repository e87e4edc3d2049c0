"""The scale-out store: PostgreSQL through psycopg 3 (async pool). All SQL for PostgreSQL lives here.

Several stateless nodes share one database. Every statement that changes a key's state also runs
``pg_notify(INVALIDATION_CHANNEL, 'k:<keyid>')`` in the same transaction, so other nodes hear of the
change exactly when it is committed (``watch_changes``) and evict their caches (store/cache.py).
Pool connections run in autocommit mode: a single statement is its own transaction (one round trip);
multi-statement changes use an explicit transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from pyehsm.errors import StartupError
from pyehsm.extras import POSTGRESQL, MissingExtraError

try:  # the "postgresql" extra; the embedded default never imports this module
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:
    raise MissingExtraError(*POSTGRESQL) from exc

from pyehsm.store.base import WRAPPED_ROWS, SealKeyVersion, SealVersion, TableInfo, WrappedValue
from pyehsm.store.cache import APP_CHANGED, RowCache
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

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "pyehsm_invalidate"
MIGRATION_LOCK_KEY = 0x7079_6568_736D  # "pyehsm": the advisory lock every node takes to migrate
_REPLAY_PURGE_BATCH = 10_000
# Raises this statement's transaction to synchronous_commit = on when the session would commit without
# waiting for the WAL flush (off) or for the synchronous standby (local); stronger settings stay.
_DURABLE_COMMIT = (
    "set_config('synchronous_commit', CASE WHEN current_setting('synchronous_commit') IN ('off', 'local') "
    "THEN 'on' ELSE current_setting('synchronous_commit') END, true)"
)
_LISTEN_KEEPALIVE_S = 15.0
_LISTEN_RETRY_MAX_S = 5.0
_PING_TIMEOUT_S = 3.0

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
_SECRET_LIVE = "(planned_delete_ms IS NULL OR planned_delete_ms > %s)"
_QUOTE_POLICY_COLUMNS = "appid, policy_id, mr_enclave, mr_signer, mr_td, rtmr0, rtmr1, rtmr2, rtmr3, created_ms"
_IMPORT_COLUMNS = (
    "appid, keyid, token_id, wrapping_keyspec, public_key, wrapped_private_key, created_ms, expires_ms, failures"
)
META_LOCK_KEY = 0x7079_6568_736E  # serialises replace_meta (domain-key and root-key rotation) across nodes

# (kind, id) from a "kind:id" payload: "k:<keyid>" for a key, "a:<appid>" for an app (store/cache.py)
ChangeCallback = Callable[[str, str], None]


def describe_url(url: str) -> str:
    """host:port/dbname of a connection string, without user or password (for messages)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable PostgreSQL URL>"
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


async def migrate(conn: psycopg.AsyncConnection[Any], now_ms: int | None = None) -> int:
    """Apply pending migrations under a transaction-scoped advisory lock; return the schema version.

    Nodes starting at once queue on the lock; the first applies the migrations, the others then find
    nothing left to do. A database whose schema is newer than this code is refused.
    """
    migrations = load_migrations("postgres")
    known = latest_version("postgres")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)"
        )
        cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > known:
            raise StartupError(
                f"the database schema version {current} is newer than this pyehsm knows ({known}); "
                "upgrade pyehsm before starting it on this database"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_version (version, applied_ms) VALUES (%s, %s)",
                (migration.version, now_ms if now_ms is not None else int(time.time() * 1000)),
            )
        return max(current, known)


def _key(row: tuple[Any, ...]) -> KeyRecord:
    appid, keyid, keyspec, origin, keyusage, state, alias, created, expire, primary, period, next_ms = row
    return KeyRecord(
        appid=appid,
        keyid=keyid,
        keyspec=keyspec,
        origin=origin,
        keyusage=keyusage,
        state=KeyState(state),
        alias=alias,
        created_ms=int(created),
        expire_ms=int(expire),
        primary_version=int(primary),
        rotation_period_days=int(period) if period is not None else None,
        next_rotation_ms=int(next_ms) if next_ms is not None else None,
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


def _version_params(version: KeyVersionRecord) -> tuple[Any, ...]:
    return (
        version.version,
        version.wrapped_material,
        version.created_ms,
        version.state.value,
        version.source.value,
    )


def _secret(row: tuple[Any, ...]) -> SecretRecord:
    appid, secret_id, name, description, keyid, interval, created, updated, rotated, latest, planned = row
    return SecretRecord(
        appid=appid,
        secret_id=secret_id,
        name=name,
        description=description,
        encryption_keyid=keyid,
        rotation_interval=interval,
        created_ms=int(created),
        updated_ms=int(updated),
        last_rotation_ms=int(rotated),
        latest_version=int(latest),
        planned_delete_ms=int(planned) if planned is not None else None,
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _evicts_key(
    method: Callable[Concatenate[PostgresStore, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[PostgresStore, _P], Coroutine[Any, Any, _R]]:
    """A method that may change the row of the key named by its ``keyid`` argument (the second, after
    ``appid``): the row cache drops it when the call ends, whatever the outcome (other nodes hear the
    NOTIFY the statement sends)."""

    @functools.wraps(method)
    async def run(self: PostgresStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        finally:
            if self.cache is not None:
                self.cache.evict_key(str(kwargs["keyid"] if "keyid" in kwargs else args[1]))

    return run


class PostgresStore:
    kind = "postgres"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 15.0,
        cache: RowCache | None = None,
    ) -> None:
        self.url = url
        self.cache = cache  # key and app rows of this process (store/cache.py); None: every read asks
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    def __repr__(self) -> str:
        return f"<PostgresStore {describe_url(self.url)}>"

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self) -> None:
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self.url,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            open=False,
            name="pyehsm",
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout:
            await pool.close()
            raise StartupError(f"cannot connect to PostgreSQL at {describe_url(self.url)}") from None
        self._pool = pool
        try:
            async with pool.connection() as conn:
                await migrate(conn)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.cache is not None:
            self.cache.reset()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> bool:
        """Readiness: False (not a 30 s wait for a pool connection) when the database is unreachable."""
        try:
            async with self.pool.connection(timeout=_PING_TIMEOUT_S) as conn:
                cur = await conn.execute(b"SELECT 1")
                return await cur.fetchone() == (1,)
        except (PoolTimeout, psycopg.Error):
            return False

    async def schema_version(self) -> int:
        row = await self.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", ())
        return int(row[0]) if row else 0

    async def query_one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchone()

    async def query_all(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall()

    # -- meta -------------------------------------------------------------------------------------
    async def get_meta(self, name: str) -> bytes | None:
        row = await self.query_one("SELECT value FROM meta WHERE name = %s", (name,))
        return bytes(row[0]) if row else None

    async def put_meta(self, name: str, value: bytes) -> None:
        await self.query_one(
            "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value "
            "RETURNING 1",
            (name, value),
        )

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        # The INSERT waits for a concurrent inserter of the same name; the SELECT then sees its row.
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", (name, value)
            )
            cur = await conn.execute("SELECT value FROM meta WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:  # pragma: no cover - the row was just inserted or already there
            raise RuntimeError(f"meta entry {name} vanished")
        return bytes(row[0])

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            # Every compare-and-swap of meta queues here, so two callers expecting the same absent row
            # cannot both win; FOR UPDATE also holds off plain writers of the rows being compared.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (META_LOCK_KEY,))
            if expected:
                cur = await conn.execute(
                    "SELECT name, value FROM meta WHERE name = ANY(%s) FOR UPDATE", (list(expected),)
                )
                current = {str(name): bytes(value) for name, value in await cur.fetchall()}
                if any(current.get(name) != want for name, want in expected.items()):
                    return False
            for name, value in values.items():
                await conn.execute(
                    "INSERT INTO meta (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    (name, value),
                )
            if delete:
                await conn.execute("DELETE FROM meta WHERE name = ANY(%s)", (list(delete),))
        return True

    def read_meta_blocking(self, name: str) -> bytes | None:
        """BlockingMetaReader: one meta row over a short synchronous connection (rare: the keyring asks
        when a wrapped value names a domain key this node has not loaded yet)."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return bytes(row[0]) if row else None

    # -- domain-key rotation (base.WRAPPED_KINDS) ----------------------------------------------------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        wrapped = _WRAPPED_SQL[kind]
        rows = await self.query_all(wrapped.select, (below, *(after if after is not None else wrapped.first), limit))
        return [WRAPPED_ROWS[kind](kind, tuple(row)) for row in rows]

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        if not changes:
            return 0
        changed = 0
        async with self.pool.connection() as conn, conn.transaction():
            for value, new in changes:
                cur = await conn.execute(_WRAPPED_SQL[value.kind].update.encode(), (new, *value.key, value.wrapped))
                changed += cur.rowcount
        return changed

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        rows = await self.query_all(_WRAPPED_SQL[kind].count, ())
        return {bytes(prefix): int(n) for prefix, n in rows}

    # -- apps -------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None:
        await self.query_one(
            "INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES (%s, %s, %s) RETURNING 1",
            (app.appid, app.wrapped_apikey, app.created_ms),
        )

    async def get_app(self, appid: str) -> AppRecord | None:
        cache = self.cache
        if cache is None:
            return await self._read_app(appid)
        cached = cache.app(appid)
        if cached is not None:
            return cached
        epoch = cache.epoch
        record = await self._read_app(appid)
        if record is not None:
            cache.keep_app(record, epoch)
        return record

    async def _read_app(self, appid: str) -> AppRecord | None:
        row = await self.query_one(
            "SELECT appid, wrapped_apikey, created_ms, require_signed_action FROM apps WHERE appid = %s", (appid,)
        )
        return AppRecord(row[0], bytes(row[1]), int(row[2]), bool(row[3])) if row else None

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        # Other nodes' caches drop the app row when this commits (NOTIFY in the same transaction).
        try:
            rows = await self.query_all(
                "WITH u AS (UPDATE apps SET require_signed_action = %s WHERE appid = %s RETURNING appid) "
                "SELECT appid, pg_notify(%s, 'a:' || appid) FROM u",
                (int(required), appid, INVALIDATION_CHANNEL),
            )
        finally:
            if self.cache is not None:  # the NOTIFY evicts it too; this node need not wait for it
                self.cache.changed(APP_CHANGED, appid)
        return len(rows) == 1

    # -- keys -------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None:
        # One statement: both rows or neither.
        await self.query_one(
            f"WITH k AS (INSERT INTO keys ({_KEY_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING keyid) "
            "INSERT INTO key_versions (keyid, version, wrapped_material, created_ms, state, source) "
            "SELECT keyid, %s, %s, %s, %s, %s FROM k RETURNING 1",
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
                *_version_params(version),
            ),
        )

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
        row = await self.query_one(f"SELECT {_KEY_COLUMNS} FROM keys WHERE keyid = %s AND appid = %s", (keyid, appid))
        return _key(row) if row else None

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None:
        row = await self.query_one(
            f"SELECT {_VERSION_COLUMNS} FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.keyid = %s AND v.version = %s AND k.appid = %s",
            (keyid, version, appid),
        )
        return _version(row) if row else None

    @_evicts_key
    async def add_key_version(
        self, appid: str, keyid: str, seal: SealKeyVersion, *, make_primary: bool, due_ms: int | None = None
    ) -> KeyVersionRecord | None:
        async with self.pool.connection() as conn, conn.transaction():
            # Writers of one key queue on its row lock (FOR UPDATE); each then reads, in a statement of its
            # own (a fresh READ COMMITTED snapshot), the versions its predecessor committed. With due_ms, the
            # second of two nodes finds next_rotation_ms moved and adds nothing.
            cur = await conn.execute(
                "SELECT next_rotation_ms, rotation_period_days FROM keys WHERE keyid = %s AND appid = %s FOR UPDATE",
                (keyid, appid),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            next_ms, period = row
            cur = await conn.execute("SELECT MAX(version) FROM key_versions WHERE keyid = %s", (keyid,))
            latest_row = await cur.fetchone()
            latest = latest_row[0] if latest_row else None
            if due_ms is not None and (next_ms is None or next_ms > due_ms):
                return None
            version = seal(int(latest or 0) + 1)
            await conn.execute(
                "INSERT INTO key_versions (keyid, version, wrapped_material, created_ms, state, source) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (version.keyid, *_version_params(version)),
            )
            if make_primary:
                await conn.execute("UPDATE keys SET primary_version = %s WHERE keyid = %s", (version.version, keyid))
            if due_ms is not None:
                next_rotation = version.created_ms + int(period) * _DAY_MS if period is not None else None
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

    @_evicts_key
    async def set_primary_version(self, appid: str, keyid: str, version: int) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET primary_version = %s WHERE keyid = %s AND appid = %s AND EXISTS ("
            "SELECT 1 FROM key_versions v WHERE v.keyid = keys.keyid AND v.version = %s AND v.state = %s "
            "AND v.wrapped_material IS NOT NULL) RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (version, keyid, appid, version, KeyVersionState.ENABLED.value, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @_evicts_key
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

    @_evicts_key
    async def set_key_rotation(
        self, appid: str, keyid: str, period_days: int | None, next_rotation_ms: int | None
    ) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET rotation_period_days = %s, next_rotation_ms = %s "
            "WHERE keyid = %s AND appid = %s RETURNING keyid) SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (period_days, next_rotation_ms, keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    async def list_due_rotations(self, now_ms: int, limit: int) -> list[KeyRecord]:
        rows = await self.query_all(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE next_rotation_ms IS NOT NULL AND next_rotation_ms <= %s "
            "ORDER BY next_rotation_ms, keyid LIMIT %s",
            (now_ms, limit),
        )
        return [_key(row) for row in rows]

    async def list_keys(self, appid: str) -> list[KeyRecord]:
        rows = await self.query_all(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE appid = %s ORDER BY created_ms, keyid", (appid,)
        )
        return [_key(row) for row in rows]

    @_evicts_key
    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        rows = await self.query_all(
            "WITH u AS (UPDATE keys SET state = %s WHERE keyid = %s AND appid = %s RETURNING keyid) "
            "SELECT keyid, pg_notify(%s, 'k:' || keyid) FROM u",
            (state.value, keyid, appid, INVALIDATION_CHANNEL),
        )
        return len(rows) == 1

    @_evicts_key
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

    # -- secrets ----------------------------------------------------------------------------------
    async def get_secrets_key(self, appid: str) -> SecretsKeyRecord | None:
        row = await self.query_one(
            "SELECT appid, keyid, wrapped_material, created_ms FROM secret_keys WHERE appid = %s", (appid,)
        )
        return SecretsKeyRecord(row[0], row[1], bytes(row[2]), int(row[3])) if row else None

    async def insert_secrets_key_if_absent(self, key: SecretsKeyRecord) -> SecretsKeyRecord:
        # The INSERT waits for a concurrent inserter for the same app; the SELECT then sees its row.
        await self.query_all(
            "INSERT INTO secret_keys (appid, keyid, wrapped_material, created_ms) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (appid) DO NOTHING RETURNING 1",
            (key.appid, key.keyid, key.wrapped_material, key.created_ms),
        )
        stored = await self.get_secrets_key(key.appid)
        if stored is None:  # pragma: no cover - the row was just written or already there
            raise RuntimeError("secrets key vanished")
        return stored

    async def insert_secret(self, secret: SecretRecord, version: SecretVersionRecord, now_ms: int) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            # A same-named secret whose deletion is due is gone already; the purge job may not have run yet.
            await conn.execute(
                "DELETE FROM secrets WHERE appid = %s AND name = %s AND planned_delete_ms <= %s",
                (secret.appid, secret.name, now_ms),
            )
            cur = await conn.execute(
                f"INSERT INTO secrets ({_SECRET_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (appid, name) DO NOTHING".encode(),
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
            await self._insert_secret_version(conn, version)
        return True

    @staticmethod
    async def _insert_secret_version(conn: psycopg.AsyncConnection[Any], version: SecretVersionRecord) -> None:
        await conn.execute(
            "INSERT INTO secret_versions (secret_id, version, wrapped_data_key, sealed_value, created_ms) "
            "VALUES (%s, %s, %s, %s, %s)",
            (version.secret_id, version.version, version.wrapped_data_key, version.sealed_value, version.created_ms),
        )

    async def get_secret(self, appid: str, name: str, now_ms: int) -> SecretRecord | None:
        row = await self.query_one(
            f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = %s AND name = %s AND {_SECRET_LIVE}",
            (appid, name, now_ms),
        )
        return _secret(row) if row else None

    async def list_secrets(self, appid: str, name: str | None, now_ms: int, limit: int) -> list[SecretRecord]:
        if name is None:
            rows = await self.query_all(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = %s AND {_SECRET_LIVE} "
                "ORDER BY created_ms, name LIMIT %s",
                (appid, now_ms, limit),
            )
        else:
            rows = await self.query_all(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE appid = %s AND name = %s AND {_SECRET_LIVE}",
                (appid, name, now_ms),
            )
        return [_secret(row) for row in rows]

    async def update_secret_description(self, appid: str, secret_id: str, description: str, now_ms: int) -> bool:
        rows = await self.query_all(
            "UPDATE secrets SET description = %s, updated_ms = %s "
            "WHERE secret_id = %s AND appid = %s AND planned_delete_ms IS NULL RETURNING 1",
            (description, now_ms, secret_id, appid),
        )
        return len(rows) == 1

    async def add_secret_version(self, appid: str, secret_id: str, now_ms: int, seal: SealVersion) -> int | None:
        async with self.pool.connection() as conn, conn.transaction():
            # Concurrent writers of one secret queue on its row lock (FOR UPDATE) and each reads the
            # latest_version its predecessor committed: every write succeeds, in some order. ``seal`` is
            # pure computation (no I/O), so the lock is held for one round trip more than the writes.
            cur = await conn.execute(
                "SELECT latest_version FROM secrets "
                "WHERE secret_id = %s AND appid = %s AND planned_delete_ms IS NULL FOR UPDATE",
                (secret_id, appid),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            version = seal(int(row[0]) + 1)
            await conn.execute(
                "UPDATE secrets SET latest_version = %s, updated_ms = %s, last_rotation_ms = %s WHERE secret_id = %s",
                (version.version, now_ms, version.created_ms, secret_id),
            )
            await self._insert_secret_version(conn, version)
        return version.version

    async def get_secret_version(self, appid: str, secret_id: str, version: int) -> SecretVersionRecord | None:
        row = await self.query_one(
            "SELECT v.secret_id, v.version, v.wrapped_data_key, v.sealed_value, v.created_ms FROM secret_versions v "
            "JOIN secrets s ON s.secret_id = v.secret_id WHERE v.secret_id = %s AND v.version = %s AND s.appid = %s",
            (secret_id, version, appid),
        )
        return SecretVersionRecord(row[0], int(row[1]), bytes(row[2]), bytes(row[3]), int(row[4])) if row else None

    async def list_secret_versions(self, appid: str, secret_id: str, limit: int) -> list[SecretVersionInfo]:
        rows = await self.query_all(
            "SELECT v.version, v.created_ms FROM secret_versions v JOIN secrets s ON s.secret_id = v.secret_id "
            "WHERE v.secret_id = %s AND s.appid = %s ORDER BY v.version DESC LIMIT %s",
            (secret_id, appid, limit),
        )
        return [SecretVersionInfo(int(row[0]), int(row[1])) for row in rows]

    async def schedule_secret_deletion(self, appid: str, secret_id: str, planned_delete_ms: int, now_ms: int) -> bool:
        rows = await self.query_all(
            f"UPDATE secrets SET planned_delete_ms = %s WHERE secret_id = %s AND appid = %s AND {_SECRET_LIVE} "
            "RETURNING 1",
            (planned_delete_ms, secret_id, appid, now_ms),
        )
        return len(rows) == 1

    async def restore_secret(self, appid: str, secret_id: str, now_ms: int) -> bool:
        rows = await self.query_all(
            f"UPDATE secrets SET planned_delete_ms = NULL WHERE secret_id = %s AND appid = %s AND {_SECRET_LIVE} "
            "RETURNING 1",
            (secret_id, appid, now_ms),
        )
        return len(rows) == 1

    async def delete_secret(self, appid: str, secret_id: str) -> bool:
        rows = await self.query_all(
            "DELETE FROM secrets WHERE secret_id = %s AND appid = %s RETURNING 1", (secret_id, appid)
        )
        return len(rows) == 1

    async def purge_secrets(self, now_ms: int) -> int:
        # One statement; versions go with their secret (ON DELETE CASCADE). Nodes purging at once skip
        # the rows another node is deleting, so none waits and each row is removed exactly once.
        rows = await self.query_all(
            "WITH gone AS (DELETE FROM secrets WHERE secret_id = ANY(ARRAY("
            "  SELECT secret_id FROM secrets WHERE planned_delete_ms IS NOT NULL AND planned_delete_ms <= %s "
            "  FOR UPDATE SKIP LOCKED"
            ")) RETURNING 1) SELECT COUNT(*) FROM gone",
            (now_ms,),
        )
        return int(rows[0][0]) if rows else 0

    # -- quote policies ---------------------------------------------------------------------------
    async def insert_quote_policy(self, policy: QuotePolicyRecord) -> None:
        await self.query_all(
            f"INSERT INTO quote_policies ({_QUOTE_POLICY_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING 1",
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
        row = await self.query_one(
            f"SELECT {_QUOTE_POLICY_COLUMNS} FROM quote_policies WHERE policy_id = %s AND appid = %s",
            (policy_id, appid),
        )
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

    # -- BYOK import parameters ---------------------------------------------------------------------
    async def put_import_params(self, params: ImportParamsRecord) -> bool:
        rows = await self.query_all(
            f"INSERT INTO import_tokens ({_IMPORT_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s, %s, %s, 0 "
            "WHERE EXISTS (SELECT 1 FROM keys k JOIN key_versions v ON v.keyid = k.keyid AND v.version = 1 "
            "WHERE k.keyid = %s AND k.appid = %s AND k.state = %s AND v.wrapped_material IS NULL) "
            "ON CONFLICT (keyid) DO UPDATE SET token_id = EXCLUDED.token_id, "
            "wrapping_keyspec = EXCLUDED.wrapping_keyspec, public_key = EXCLUDED.public_key, "
            "wrapped_private_key = EXCLUDED.wrapped_private_key, created_ms = EXCLUDED.created_ms, "
            "expires_ms = EXCLUDED.expires_ms, failures = 0 WHERE import_tokens.appid = EXCLUDED.appid RETURNING 1",
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
        return len(rows) == 1

    async def get_import_params(self, appid: str, keyid: str) -> ImportParamsRecord | None:
        row = await self.query_one(
            f"SELECT {_IMPORT_COLUMNS} FROM import_tokens WHERE keyid = %s AND appid = %s", (keyid, appid)
        )
        if row is None:
            return None
        app, kid, token_id, keyspec, public, wrapped, created, expires, failures = row
        return ImportParamsRecord(
            app, kid, token_id, keyspec, bytes(public), bytes(wrapped), int(created), int(expires), int(failures)
        )

    async def count_import_failure(self, appid: str, keyid: str, token_id: str, max_failures: int) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE import_tokens SET failures = failures + 1 "
                "WHERE keyid = %s AND appid = %s AND token_id = %s RETURNING failures",
                (keyid, appid, token_id),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            if int(row[0]) >= max_failures:
                await conn.execute("DELETE FROM import_tokens WHERE keyid = %s AND token_id = %s", (keyid, token_id))
                return False
        return True

    @_evicts_key
    async def install_key_material(self, appid: str, keyid: str, token_id: str, wrapped_material: bytes) -> bool:
        installed = False
        async with self.pool.connection() as conn, conn.transaction():
            steps: tuple[tuple[str, tuple[Any, ...]], ...] = (
                (
                    "DELETE FROM import_tokens WHERE keyid = %s AND appid = %s AND token_id = %s",
                    (keyid, appid, token_id),
                ),
                (
                    "UPDATE keys SET state = %s WHERE keyid = %s AND appid = %s AND state = %s",
                    (KeyState.ENABLED.value, keyid, appid, KeyState.PENDING_IMPORT.value),
                ),
                (
                    "UPDATE key_versions SET wrapped_material = %s "
                    "WHERE keyid = %s AND version = 1 AND wrapped_material IS NULL",
                    (wrapped_material, keyid),
                ),
            )
            for query, args in steps:
                cur = await conn.execute(query.encode(), args)
                if cur.rowcount != 1:
                    raise psycopg.Rollback  # leaves the transaction block (rolled back), not the method
            # the key's state changed: other nodes evict it when this commits
            await conn.execute("SELECT pg_notify(%s, %s)", (INVALIDATION_CHANNEL, f"k:{keyid}"))
            installed = True
        return installed

    async def purge_import_params(self, now_ms: int) -> int:
        # Nodes sweeping at once skip each other's rows; each expired row is deleted once.
        rows = await self.query_all(
            "WITH gone AS (DELETE FROM import_tokens WHERE keyid = ANY(ARRAY("
            "  SELECT keyid FROM import_tokens WHERE expires_ms <= %s FOR UPDATE SKIP LOCKED"
            ")) RETURNING 1) SELECT COUNT(*) FROM gone",
            (now_ms,),
        )
        return int(rows[0][0]) if rows else 0

    # -- change notifications ---------------------------------------------------------------------
    async def watch_changes(
        self,
        on_change: ChangeCallback,
        on_reset: Callable[[], None],
        ready: asyncio.Event | None = None,
    ) -> None:
        """LISTEN for committed changes forever (run it as a task); call ``on_change(kind, id)`` for each.

        Uses its own connection (a LISTEN must outlive pool checkouts). When the connection is lost,
        changes may have been missed: ``on_reset()`` is called after reconnecting, before listening on.
        ``ready`` is set once the first LISTEN is in place.
        """
        delay = 0.1
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {INVALIDATION_CHANNEL}".encode())
                    if not first:
                        on_reset()
                    first = False
                    delay = 0.1
                    if ready is not None:
                        ready.set()
                    while True:
                        async for note in conn.notifies(timeout=_LISTEN_KEEPALIVE_S):
                            kind, _, ident = note.payload.partition(":")
                            on_change(kind, ident)
                        await conn.execute(b"SELECT 1")  # a silent network loss surfaces here
            except psycopg.Error as exc:
                log.warning("change listener lost its PostgreSQL connection (%s); reconnecting", type(exc).__name__)
                if not first:
                    on_reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LISTEN_RETRY_MAX_S)

    # -- export / import (pyehsm export|import) -----------------------------------------------------
    async def tables(self) -> list[TableInfo]:
        """Every persistent data table (not schema_version, not the replay guard's table) with its FK parents."""
        rows = await self.query_all(
            "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum), "
            "  ARRAY(SELECT p.relname::text FROM pg_constraint f JOIN pg_class p ON p.oid = f.confrelid "
            "        WHERE f.conrelid = c.oid AND f.contype = 'f' AND p.oid <> c.oid) "
            "FROM pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
            "  AND c.relpersistence = 'p' AND c.relname NOT IN ('schema_version', 'replay') "
            "GROUP BY c.oid, c.relname ORDER BY c.relname",
            (),
        )
        return [TableInfo(str(name), tuple(cols), frozenset(parents)) for name, cols, parents in rows]

    async def count_rows(self, table: TableInfo) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table.name)))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def dump(
        self, tables: list[TableInfo], batch: int = 1000
    ) -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # one snapshot
            for table in tables:
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in table.columns), sql.Identifier(table.name)
                )
                async with conn.cursor(name="pyehsm_dump") as cur:
                    await cur.execute(query)
                    while rows := await cur.fetchmany(batch):
                        yield table, [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    async def load(self, batches: AsyncIterable[tuple[TableInfo, list[tuple[Any, ...]]]]) -> None:
        """Insert every batch in one transaction (all or nothing), then move sequences past the rows."""
        async with self.pool.connection() as conn, conn.transaction():
            loaded: set[str] = set()
            async for table, rows in batches:
                query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                    sql.Identifier(table.name),
                    sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
                    sql.SQL(", ").join(sql.Placeholder() for _ in table.columns),
                )
                async with conn.cursor() as cur:
                    await cur.executemany(query, rows)
                loaded.add(table.name)
            for name in sorted(loaded):
                cur = await conn.execute(
                    "SELECT a.attname::text, pg_get_serial_sequence(quote_ident(%s), a.attname) FROM pg_attribute a "
                    "WHERE a.attrelid = quote_ident(%s)::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                    "AND pg_get_serial_sequence(quote_ident(%s), a.attname) IS NOT NULL",
                    (name, name, name),
                )
                for column, sequence in await cur.fetchall():
                    await conn.execute(
                        sql.SQL("SELECT setval({}, COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)").format(
                            sql.Literal(sequence), sql.Identifier(column), sql.Identifier(name)
                        )
                    )


class PostgresReplayGuard:
    """The replay guard shared by every worker and node: a logged table keyed on (appid, sign).

    No request may run twice, whatever is restarted (docs/operations.md, "Replay protection"): the table
    is LOGGED (schema 5; it was UNLOGGED, emptied by a crash and not replicated) and every insert commits
    with ``synchronous_commit`` at least ``on`` whatever the server or role sets (``off`` or ``local``
    would let a crash or a failover lose entries of requests already executed). A stronger setting
    (``remote_apply``, ``remote_write``) is kept. A failover keeps the entries only when the standby
    was synchronous.
    """

    def __init__(self, store: PostgresStore, retention_ms: int) -> None:
        self._store = store
        self.retention_ms = retention_ms
        # Group commit: while one INSERT is in flight, new requests queue and go in the next one, so
        # under load one statement carries many entries (PostgreSQL's per-statement cost dominates).
        self._pending: list[tuple[str, str, int, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.floor_ms = 0  # a logged table knows its past (see the class docstring for failover)
        self.refused = {"seen": 0, "before_floor": 0}

    def __repr__(self) -> str:
        return f"<PostgresReplayGuard {describe_url(self._store.url)}>"

    async def remember(self, appid: str, sign: str, now_ms: int, timestamp_ms: int | None = None) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((appid, sign, now_ms, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_while_pending())
        if await future:
            return True
        self.refused["seen"] += 1
        return False

    async def _flush_while_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                accepted = await self._insert(batch)
            except Exception as exc:  # fail closed: every waiting request gets the error
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for appid, sign, _, future in batch:
                if not future.done():
                    future.set_result(accepted.pop((appid, sign), False))

    async def _insert(self, batch: list[tuple[str, str, int, asyncio.Future[bool]]]) -> dict[tuple[str, str], bool]:
        """One INSERT for the batch. Inserted (new) or taken over (a stale entry past its retention) ->
        the row comes back; a live entry -> no row. Identical requests serialize on the primary key
        (across nodes too): exactly one wins. A duplicate inside the batch is only sent once; the
        first copy can win, the others get False (the dict entry is popped by the first)."""
        unique: dict[tuple[str, str], int] = {}
        for appid, sign, now_ms, _ in batch:
            unique.setdefault((appid, sign), now_ms)
        now = min(unique.values())
        rows = await self._store.query_all(
            "INSERT INTO replay (appid, sign, expires_ms) "
            "SELECT u.appid, u.sign, u.expires_ms "
            "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS u (appid, sign, expires_ms) "
            f", (SELECT {_DURABLE_COMMIT}) AS durable "
            "ON CONFLICT (appid, sign) DO UPDATE SET expires_ms = EXCLUDED.expires_ms "
            "WHERE replay.expires_ms <= %s RETURNING appid, sign",
            (
                [key[0] for key in unique],
                [key[1] for key in unique],
                [t + self.retention_ms for t in unique.values()],
                now,
            ),
        )
        return {(str(r[0]), str(r[1])): True for r in rows}

    async def purge(self, now_ms: int) -> int:
        """Delete expired entries in batches; nodes purging at once skip each other's rows."""
        total = 0
        while True:
            rows = await self._store.query_all(
                "WITH gone AS (DELETE FROM replay WHERE ctid = ANY(ARRAY("
                "  SELECT ctid FROM replay WHERE expires_ms <= %s LIMIT %s FOR UPDATE SKIP LOCKED"
                ")) RETURNING 1) SELECT COUNT(*) FROM gone",
                (now_ms, _REPLAY_PURGE_BATCH),
            )
            deleted = int(rows[0][0]) if rows else 0
            total += deleted
            if deleted < _REPLAY_PURGE_BATCH:
                return total

    async def size(self, now_ms: int) -> int:
        """Live entries at ``now_ms`` (metrics), every one counted, through the expiry index (the planner's
        row estimate, used before, was off by a quarter and more). The metrics count a large guard at
        most every 30 s (metrics.REPLAY_SIZE_REFRESH_MS)."""
        row = await self._store.query_one("SELECT COUNT(*) FROM replay WHERE expires_ms > %s", (now_ms,))
        return int(row[0]) if row else 0

    async def close(self) -> None:
        """Nothing to release: the guard borrows the store's pool (the store closes it)."""


@dataclass(frozen=True, slots=True)
class _WrappedSql:
    """SQL for one DK-wrapped column (base.WRAPPED_KINDS): page, compare-and-swap, count per header."""

    select: str  # params: below, *cursor, limit -> rows (*key, *owner-only fields, wrapped)
    update: str  # params: new, *key, old
    count: str
    first: tuple[str | int, ...]  # a cursor below every real key


# bytea compares bytewise, so "header < below" finds values wrapped under an older domain key.
_WRAPPED_SQL = {
    "cmk": _WrappedSql(
        select="SELECT v.keyid, v.version, k.appid, k.keyspec, v.wrapped_material FROM key_versions v "
        "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL "
        "AND substring(v.wrapped_material from 1 for 5) < %s AND (v.keyid, v.version) > (%s, %s) "
        "ORDER BY v.keyid, v.version LIMIT %s",
        update="UPDATE key_versions SET wrapped_material = %s "
        "WHERE keyid = %s AND version = %s AND wrapped_material = %s",
        count="SELECT substring(wrapped_material from 1 for 5), COUNT(*) FROM key_versions "
        "WHERE wrapped_material IS NOT NULL GROUP BY 1",
        first=("", -1),
    ),
    "apikey": _WrappedSql(
        select="SELECT appid, wrapped_apikey FROM apps WHERE substring(wrapped_apikey from 1 for 5) < %s "
        "AND appid > %s ORDER BY appid LIMIT %s",
        update="UPDATE apps SET wrapped_apikey = %s WHERE appid = %s AND wrapped_apikey = %s",
        count="SELECT substring(wrapped_apikey from 1 for 5), COUNT(*) FROM apps GROUP BY 1",
        first=("",),
    ),
    "secrets_key": _WrappedSql(
        select="SELECT appid, keyid, wrapped_material FROM secret_keys "
        "WHERE substring(wrapped_material from 1 for 5) < %s AND appid > %s ORDER BY appid LIMIT %s",
        update="UPDATE secret_keys SET wrapped_material = %s WHERE appid = %s AND wrapped_material = %s",
        count="SELECT substring(wrapped_material from 1 for 5), COUNT(*) FROM secret_keys GROUP BY 1",
        first=("",),
    ),
    "import_key": _WrappedSql(
        select="SELECT keyid, appid, token_id, wrapping_keyspec, wrapped_private_key FROM import_tokens "
        "WHERE substring(wrapped_private_key from 1 for 5) < %s AND keyid > %s ORDER BY keyid LIMIT %s",
        update="UPDATE import_tokens SET wrapped_private_key = %s WHERE keyid = %s AND wrapped_private_key = %s",
        count="SELECT substring(wrapped_private_key from 1 for 5), COUNT(*) FROM import_tokens GROUP BY 1",
        first=("",),
    ),
}
