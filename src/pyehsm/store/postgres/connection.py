"""The connection pools, migrations and the base every PostgreSQL store mixin builds on.

Pool connections run in autocommit mode: a single statement is its own transaction (one round trip);
multi-statement changes use an explicit transaction.

The grouped statements (store/postgres/batched.py: the replay guard's INSERT, the read path's key and app
lookups) run on a small pool of their own whose sessions plan a prepared statement once
(``plan_cache_mode = force_generic_plan``). PostgreSQL's default re-plans a prepared statement with an
array parameter at every execution: the generic plan's cost assumes 10 elements and loses against a
custom plan that knows the batch's exact count, so each grouped lookup paid ~0.4 ms of planning for
~0.3 ms of index lookups. Their generic plan is the same (index lookups by primary key, whatever the
array holds); the other statements (range scans such as rotation due or ListKey) keep custom plans.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from pyehsm.errors import StartupError
from pyehsm.store.cache import RowCache
from pyehsm.store.migrations import latest_version, load_migrations
from pyehsm.store.postgres.driver import AsyncConnectionPool, PoolTimeout, conninfo_to_dict, psycopg

log = logging.getLogger(__name__)
INVALIDATION_CHANNEL = "pyehsm_invalidate"
MIGRATION_LOCK_KEY = 0x7079_6568_736D  # "pyehsm": the advisory lock every node takes to migrate
_PING_TIMEOUT_S = 3.0
# One connection per StatementBatcher of a process (the replay INSERT, key lookups, app lookups): each runs
# one statement at a time, so they never wait for one another's connection.
GROUPED_POOL_SIZE = 3


async def _plan_once(conn: psycopg.AsyncConnection[Any]) -> None:
    """A grouped-statement session: prepared statements keep their generic plan (see the module docstring)."""
    await conn.execute(b"SET plan_cache_mode = force_generic_plan")


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


_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="PostgresBase")


def evicts_key(
    method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """A method that may change the row of the key named by its ``keyid`` argument (the second, after
    ``appid``): the row cache drops it when the call ends, whatever the outcome (other nodes hear the
    NOTIFY the statement sends)."""

    @functools.wraps(method)
    async def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        finally:
            if self.cache is not None:
                self.cache.evict_key(str(kwargs["keyid"] if "keyid" in kwargs else args[1]))

    return run


class PostgresBase:
    """Pool, lifecycle and the query helpers; ``cache`` is this process's row cache (or None)."""

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
        self._grouped_pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    def __repr__(self) -> str:
        return f"<PostgresStore {describe_url(self.url)}>"

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await self._open_pool("pyehsm", self._min_size, self._max_size)
            async with self._pool.connection() as conn:
                await migrate(conn)
            self._grouped_pool = await self._open_pool("pyehsm-grouped", 1, GROUPED_POOL_SIZE, _plan_once)
        except BaseException:
            await self.close()
            raise

    async def _open_pool(
        self,
        name: str,
        min_size: int,
        max_size: int,
        configure: Callable[[psycopg.AsyncConnection[Any]], Coroutine[Any, Any, None]] | None = None,
    ) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
            name=name,
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout:
            await pool.close()
            raise StartupError(f"cannot connect to PostgreSQL at {describe_url(self.url)}") from None
        return pool

    async def close(self) -> None:
        if self.cache is not None:
            self.cache.reset()
        for pool in (self._grouped_pool, self._pool):
            if pool is not None:
                await pool.close()
        self._pool = self._grouped_pool = None

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

    async def query_grouped(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """``query_all`` for a grouped statement (one StatementBatcher's): on the pool whose sessions plan it
        once (module docstring)."""
        if self._grouped_pool is None:
            raise RuntimeError("store is not open")
        async with self._grouped_pool.connection() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall()
