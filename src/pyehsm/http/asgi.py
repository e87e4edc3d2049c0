"""What every door of the HTTP listener shares: the ASGI types, request ids and the failure log."""

from __future__ import annotations

import itertools
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

log = logging.getLogger("pyehsm.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TRACED_LIMIT = 256  # distinct failure sites whose traceback is logged once per process


def request_ids() -> Iterator[str]:
    """16 hex characters per request: a random per-process prefix and a counter (unique, not secret;
    cheaper than 8 fresh random bytes per request)."""
    prefix = secrets.token_hex(4)
    return (f"{prefix}{n:08x}" for n in itertools.count())


class FailureLog:
    """Logs an unexpected exception of a request as one line naming the action, the request id and the
    failure site (exception type, file, line), never the exception's text or any payload data. The
    stack goes with the first failure at each site only (per process, up to _TRACED_LIMIT sites), so a
    request that keeps failing cannot flood the log with a trace per request."""

    def __init__(self) -> None:
        self._traced: set[tuple[str, str, int]] = set()

    def __repr__(self) -> str:
        return f"<FailureLog sites={len(self._traced)}>"

    def record(self, exc: BaseException, action: str, request_id: str) -> None:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        site = (type(exc).__qualname__, tb.tb_frame.f_code.co_filename if tb else "?", tb.tb_lineno if tb else 0)
        first = site not in self._traced and len(self._traced) < _TRACED_LIMIT
        if first:
            self._traced.add(site)
        # The stack (frames only) once per site; the exception's text never: it may quote request data.
        stack = ""
        if first:
            stack = "\nTraceback (most recent call last):\n" + "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "internal error in action %s (request %s): %s at %s:%d%s%s",
            action,
            request_id,
            site[0],
            site[1].rsplit("/", 1)[-1],
            site[2],
            "" if first else " (traceback logged before)",
            stack.rstrip("\n"),
        )
