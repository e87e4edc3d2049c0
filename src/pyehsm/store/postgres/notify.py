"""Change notifications: every node LISTENs and evicts what other nodes changed (store/cache.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, log
from pyehsm.store.postgres.driver import psycopg

_LISTEN_KEEPALIVE_S = 15.0
_LISTEN_RETRY_MAX_S = 5.0


# (kind, id) from a "kind:id" payload: "k:<keyid>" for a key, "a:<appid>" for an app (store/cache.py)
ChangeCallback = Callable[[str, str], None]


class ChangeListener(PostgresBase):
    """LISTEN for other nodes' changes (watch_changes)."""

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
