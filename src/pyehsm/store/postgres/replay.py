"""The replay guard shared by every node: a table in the database."""

from __future__ import annotations

from pyehsm.store.postgres.batched import StatementBatcher
from pyehsm.store.postgres.connection import describe_url
from pyehsm.store.postgres.store import PostgresStore

_REPLAY_PURGE_BATCH = 10_000


# Raises this statement's transaction to synchronous_commit = on when the session would commit without
# waiting for the WAL flush (off) or for the synchronous standby (local); stronger settings stay.
_DURABLE_COMMIT = (
    "set_config('synchronous_commit', CASE WHEN current_setting('synchronous_commit') IN ('off', 'local') "
    "THEN 'on' ELSE current_setting('synchronous_commit') END, true)"
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
        self._inserts: StatementBatcher[tuple[str, str, int], bool] = StatementBatcher(self._insert)
        self.floor_ms = 0  # a logged table knows its past (see the class docstring for failover)
        self.refused = {"seen": 0, "before_floor": 0}
        self.overflowed = 0  # a table in the database: nothing overflows (it grows with the load)

    def __repr__(self) -> str:
        return f"<PostgresReplayGuard {describe_url(self._store.url)}>"

    async def remember(self, appid: str, sign: str, now_ms: int, timestamp_ms: int | None = None) -> bool:
        if await self._inserts.submit((appid, sign, now_ms)):
            return True
        self.refused["seen"] += 1
        return False

    async def _insert(self, batch: list[tuple[str, str, int]]) -> list[bool]:
        """One INSERT for the batch. Inserted (new) or taken over (a stale entry past its retention) ->
        the row comes back; a live entry -> no row. Identical requests serialize on the primary key
        (across nodes too): exactly one wins. A duplicate inside the batch is only sent once; the
        first copy can win, the others get False."""
        unique: dict[tuple[str, str], int] = {}
        for appid, sign, now_ms in batch:
            unique.setdefault((appid, sign), now_ms)
        now = min(unique.values())
        rows = await self._store.query_grouped(
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
        accepted = {(str(r[0]), str(r[1])) for r in rows}
        results = []
        for appid, sign, _ in batch:
            won = (appid, sign) in accepted
            accepted.discard((appid, sign))  # the first copy only
            results.append(won)
        return results

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
