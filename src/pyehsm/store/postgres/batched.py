"""Group statements: while one statement is in flight, further requests queue and go in the next one.

PostgreSQL's cost is per statement (a round trip, parse, plan, a commit), not per row: under load a worker
serves many requests at once, and sending each its own statement makes them wait for each other's round
trips on the pool. ``StatementBatcher`` runs one statement at a time per instance; every item submitted
meanwhile waits and goes, with the others, in the next one. Idle, an item goes at once (a batch of one).

Used by the replay guard (one INSERT per batch, store/postgres/replay.py) and the read path's misses (one
SELECT per batch: the key row with its primary material, the app row; store/postgres/keys.py, apps.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class StatementBatcher(Generic[T, R]):
    """Run ``run(items)`` for every item submitted, one call in flight at a time.

    ``run`` answers one result per item, in order. If it raises, every item of that batch gets the
    exception (fail closed: no caller goes on as if its statement had run); the items queued meanwhile
    still go in the next batch.
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._run = run
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_while_pending())
        return await future

    async def _flush_while_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._run([item for item, _ in batch])
            except Exception as exc:  # fail closed: every waiter of the batch gets the error
                _fail(batch, exc)
                continue
            except BaseException:  # cancelled (shutdown): nobody may wait forever
                _fail(batch, None)
                _fail(self._pending, None)
                self._pending = []
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # a waiter cancelled meanwhile
                    future.set_result(result)


def _fail(batch: list[tuple[T, asyncio.Future[R]]], exc: Exception | None) -> None:
    """Every waiter of ``batch`` gets ``exc`` (None: is cancelled)."""
    for _, future in batch:
        if future.done():
            continue
        if exc is None:
            future.cancel()
        else:
            future.set_exception(exc)


class BatchedLookup(Generic[K, V]):
    """Look values up by key in grouped statements: ``fetch`` gets each distinct key of a batch once and
    answers the ones it found (a key missing from its answer gets None)."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self._fetch = fetch
        self._batcher: StatementBatcher[K, V | None] = StatementBatcher(self._run)

    async def get(self, key: K) -> V | None:
        return await self._batcher.submit(key)

    async def _run(self, keys: list[K]) -> list[V | None]:
        found = await self._fetch(list(dict.fromkeys(keys)))
        return [found.get(key) for key in keys]
