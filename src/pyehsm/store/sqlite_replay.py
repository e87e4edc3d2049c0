"""The embedded replay guard: one SQLite file shared by every worker process of the node.

The file's primary key is the arbiter: of several copies of one request, wherever they land, exactly
one insert succeeds. Two costs are kept off the hot path:

- workers serialise their writes on an flock()ed lock file instead of SQLite's busy handler, whose
  sleep-and-retry backoff (1, 2, 5, 10 ... ms) would add tens of milliseconds to p99 latency;
- group commit: the requests that arrive in one event-loop turn share one lock and one transaction,
  so a worker under load pays the lock hand-off and the commit once per batch, not once per request.

Entries are 16-byte fingerprints of (appid, sign) and expire ``retention_ms`` after they were
written (the timestamp window already rejects anything older than 10 minutes).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from pyehsm.store.sqlite import connect

_CREATE = (
    "CREATE TABLE IF NOT EXISTS replay_v2 (entry BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID",
    # the purge finds expired entries through this index instead of scanning every live one
    "CREATE INDEX IF NOT EXISTS replay_v2_expiry ON replay_v2 (expires_ms)",
)
PURGE_BATCH = 5000

Pending = tuple[bytes, int, "asyncio.Future[bool]"]
Entry = tuple[bytes, int, int]  # (fingerprint, now_ms, expires_ms)


def fingerprint(appid: str, sign: str) -> bytes:
    """16 bytes standing for (appid, sign): a short B-tree key keeps the insert cheap."""
    return hashlib.sha256(f"{appid}|{sign}".encode()).digest()[:16]


class SqliteReplayGuard:
    def __init__(self, path: Path, retention_ms: int) -> None:
        self.path = path
        self.retention_ms = retention_ms
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._conn = connect(path, synchronous="OFF")
        with self._locked():
            # created (new or lost): the mapped table then knows its overflow entries are gone
            self.created = (
                self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replay_v2'").fetchone()
                is None
            )
            for statement in _CREATE:
                self._conn.execute(statement)
        self.purge_batch = PURGE_BATCH
        self.floor_ms = 0  # used alone (tests, tools) it never refuses by timestamp
        self.refused = {"seen": 0, "before_floor": 0}
        self.overflowed = 0  # it has no table in front of it: nothing overflows
        self._pending: list[Pending] = []
        self._flush_scheduled = False

    def __repr__(self) -> str:
        return f"<SqliteReplayGuard {self.path}>"

    def _locked(self) -> FileLock:
        return FileLock(self._lock_fd)

    async def remember(self, appid: str, sign: str, now_ms: int, timestamp_ms: int | None = None) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((fingerprint(appid, sign), now_ms, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if await future:
            return True
        self.refused["seen"] += 1
        return False

    def _flush(self) -> None:
        batch, self._pending, self._flush_scheduled = self._pending, [], False
        try:
            results = self.insert([(entry, now_ms, now_ms + self.retention_ms) for entry, now_ms, _ in batch])
        except Exception as exc:  # fail closed: every waiting request gets the error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), accepted in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(accepted)

    def insert(self, entries: Sequence[Entry]) -> list[bool]:
        """Insert the entries in one transaction; True where the fingerprint was not there yet."""
        conn = self._conn
        fresh = []
        with self._locked():
            conn.execute("BEGIN IMMEDIATE")
            try:
                for entry, now_ms, expires in entries:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO replay_v2 (entry, expires_ms) VALUES (?, ?)", (entry, expires)
                    )
                    if cur.rowcount != 1:
                        # An entry past its retention may be reused: the timestamp window rejects anything
                        # that old, so this is a new request that happens to share a fingerprint.
                        cur = conn.execute(
                            "UPDATE replay_v2 SET expires_ms = ? WHERE entry = ? AND expires_ms <= ?",
                            (expires, entry, now_ms),
                        )
                    fresh.append(cur.rowcount == 1)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return fresh

    def contains(self, entry: bytes, now_ms: int) -> bool:
        """True when the fingerprint is held and has not expired."""
        row = self._conn.execute(
            "SELECT 1 FROM replay_v2 WHERE entry = ? AND expires_ms > ?", (entry, now_ms)
        ).fetchone()
        return row is not None

    async def purge(self, now_ms: int) -> int:
        """Delete expired entries in small batches, letting requests through between them: one big
        DELETE would hold every worker's write lock for as long as it takes."""
        total = 0
        while True:
            with self._locked():
                deleted = int(
                    self._conn.execute(
                        "DELETE FROM replay_v2 WHERE entry IN "
                        "(SELECT entry FROM replay_v2 WHERE expires_ms <= ? LIMIT ?)",
                        (now_ms, self.purge_batch),
                    ).rowcount
                )
            total += deleted
            if deleted < self.purge_batch:
                return total
            await asyncio.sleep(0)

    async def size(self, now_ms: int) -> int:
        """Live entries (not expired at ``now_ms``), every one counted (through the expiry index)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM replay_v2 WHERE expires_ms > ?", (now_ms,)).fetchone()[0])

    async def close(self) -> None:
        self._conn.close()
        os.close(self._lock_fd)


class FileLock:
    """An exclusive flock() on an open file for the duration of a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
