"""Change notifications: every node LISTENs and evicts what other nodes changed (store/cache.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase, log
from pyehsm.store.postgres.driver import psycopg

# How often the listener makes a round trip on its connection: a lost connection surfaces, and (with
# ``on_probe``) the row cache learns it has heard every change committed before the probe was sent.
PROBE_INTERVAL_S = 0.1
LISTENER_APPLICATION = "pyehsm-listener"  # its application_name (pg_stat_activity: tell it from the pool's)
_LISTEN_RETRY_MAX_S = 5.0


# (kind, id) from a "kind:id" payload: "k:<keyid>" for a key, "a:<appid>" for an app (store/cache.py)
ChangeCallback = Callable[[str, str], None]
# Called just before a probe is sent; what it returns is called once the probe's reply and every
# notification received before it have been handled (RowCache.probe).
ProbeCallback = Callable[[], Callable[[], None]]


class ChangeListener(PostgresBase):
    """LISTEN for other nodes' changes (watch_changes)."""

    async def watch_changes(
        self,
        on_change: ChangeCallback,
        on_reset: Callable[[], None],
        ready: asyncio.Event | None = None,
        on_probe: ProbeCallback | None = None,
    ) -> None:
        """LISTEN for committed changes forever (run it as a task); call ``on_change(kind, id)`` for each.

        Uses its own connection (a LISTEN must outlive pool checkouts). When the connection is lost,
        changes may have been missed: ``on_reset()`` is called after reconnecting, before listening on.
        ``ready`` is set once the first LISTEN is in place. Every PROBE_INTERVAL_S it sends ``SELECT 1``:
        PostgreSQL delivers the notifications a listening session has received before the reply to its
        next statement, so once the reply is read every change committed before the probe was sent has
        reached ``on_change`` (then ``on_probe``'s answer is called).
        """
        delay = 0.1
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name=LISTENER_APPLICATION
                ) as conn:
                    await conn.execute(f"LISTEN {INVALIDATION_CHANNEL}".encode())
                    if not first:
                        on_reset()
                    first = False
                    delay = 0.1
                    if ready is not None:
                        ready.set()
                    while True:
                        async for note in conn.notifies(timeout=PROBE_INTERVAL_S):
                            _deliver(note.payload, on_change)
                        answered = on_probe() if on_probe is not None else None
                        await conn.execute(b"SELECT 1")  # a silent network loss surfaces here
                        # the notifications that came with the reply wait in psycopg's backlog: handle them first
                        async for note in conn.notifies(timeout=0):
                            _deliver(note.payload, on_change)
                        if answered is not None:
                            answered()
            except psycopg.Error as exc:
                log.warning("change listener lost its PostgreSQL connection (%s); reconnecting", type(exc).__name__)
                if not first:
                    on_reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LISTEN_RETRY_MAX_S)


def _deliver(payload: str, on_change: ChangeCallback) -> None:
    """One notification's "kind:id" payload to ``on_change(kind, id)``."""
    kind, _, ident = payload.partition(":")
    on_change(kind, ident)
