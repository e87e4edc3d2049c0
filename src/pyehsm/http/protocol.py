"""uvicorn's httptools HTTP/1.1 protocol, with each response leaving in one write.

uvicorn writes a response's head (status line and headers) and its body with two ``transport.write``
calls; on a plain socket each is a ``send()`` syscall and, with TCP_NODELAY, its own TCP segment, so
the client wakes up twice per response. Here the transport handed to uvicorn holds back the head and
sends it together with the body that the same event-loop step writes next. Anything still held is
sent at the end of that step, and before the connection closes, so nothing is delayed past the step
that produced it and the bytes on the wire are unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from pyehsm.http.limits import HEADERS_TOO_LARGE, TOO_MANY_CONNECTIONS, URL_TOO_LONG, HttpLimits
from pyehsm.http.transport import CoalescingTransport

log = logging.getLogger("pyehsm.http")


class _Rejected(Exception):
    """Raised from a parser callback to stop parsing; the answer to send is on the protocol."""


class HeadDeadlines:
    """Closes the connections of one server whose request head is not complete in time.

    One periodic sweep per worker rather than a timer per request: a connection notes the sweep's last
    time when its head starts (at connect, or at a later request's first byte) and clears it when the head
    is complete; the sweep closes those whose head started ``timeout`` ago or earlier. The sweep runs
    every ``timeout / 8`` while the server has connections, so a head is closed between ``timeout`` and
    ``1.25 * timeout`` after it started. ``sweep`` takes the time, so it can be driven by hand.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float) -> None:
        self._loop = loop
        self._connections = connections
        self.timeout = timeout
        self.interval = timeout / 8
        self.now = loop.time()
        self._running = False

    def ensure_running(self) -> None:
        if not self._running:
            self._running = True
            self.now = self._loop.time()
            self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self.now = self._loop.time()
        self.sweep(self.now)
        if self._connections:
            self._loop.call_later(self.interval, self._tick)
        else:
            self._running = False

    def sweep(self, now: float) -> int:
        """Close every connection whose head started before ``now - timeout``; returns how many."""
        # a head's noted start can be up to one interval before its real start: allow for it
        cutoff = now - self.timeout - self.interval
        closed = 0
        for conn in list(self._connections):
            since = conn.head_since
            if since is not None and since <= cutoff:
                conn.head_timed_out()
                closed += 1
        return closed


_deadlines: weakref.WeakKeyDictionary[ServerState, HeadDeadlines] = weakref.WeakKeyDictionary()

# Where a connection is in its current request (head = request line and header fields).
_IDLE, _HEAD, _BODY = 0, 1, 2


class PyehsmHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``CoalescingTransport``, with connection guards.

    Guards (``HttpLimits``): a request head (request line and header fields) over ``max_header_size``
    bytes is answered 431, or, when the URL alone is over it, with the envelope (code 400), and the
    connection is closed; a head not complete ``header_timeout`` seconds after the connection opened (or
    after the first byte of a later request on it) has its connection closed; a connection beyond
    ``max_connections`` in this worker is answered 503 and closed.

    Head bytes are counted per received chunk while a head is incomplete (httptools keeps a header that
    is still arriving to itself), and checked against the parsed URL and headers when the head is
    complete in a chunk large enough to hold an oversized head. A normal request costs a few attribute
    updates and no allocation.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits = limits or DEFAULT_LIMITS
        self._max_head = limits.max_header_size
        self._url_too_long = limits.url_too_long or URL_TOO_LONG
        deadlines = _deadlines.get(server_state)
        if deadlines is None:
            deadlines = HeadDeadlines(self.loop, self.connections, limits.header_timeout)
            _deadlines[server_state] = deadlines
        self._deadlines = deadlines
        self.head_since: float | None = None  # when the current head started (the sweep's clock); None: none open
        self._stage = _IDLE
        self._begun = 0  # messages begun in the chunk being parsed
        self._chunk_len = 0  # length of the chunk being parsed
        self._head_bytes = 0  # bytes of the open head received so far (never more than it really holds)
        self._head_upper = 0  # bytes the open head held at most before the chunk being parsed
        self._rejection = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
        if len(self.connections) > self.limits.max_connections:
            log.warning(
                "More than %d connections in this worker: answered 503 and closed.", self.limits.max_connections
            )
            self._send_and_close(TOO_MANY_CONNECTIONS)
            return
        self._deadlines.ensure_running()
        self.head_since = self._deadlines.now

    # uvicorn's data_received, with the head checks after each chunk and the guards' own answers
    def data_received(self, data: bytes) -> None:
        stage = self._stage
        self._begun = 0
        self._chunk_len = n = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._rejection:  # a guard stopped the parser from a callback
                self._answer_and_linger(self._rejection)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._stage == _HEAD:  # a head is still incomplete after this chunk
            self._count_head(stage, n)

    def _count_head(self, stage_at_start: int, n: int) -> None:
        begun = self._begun
        if begun == 0 and stage_at_start == _HEAD:  # the whole chunk belongs to the open head
            self._head_bytes += n
            self._head_upper += n
        elif begun == 1 and stage_at_start == _IDLE:  # the head began this chunk, nothing before it
            self._head_bytes = self._head_upper = n
        else:  # the head began behind another message in this chunk: what was parsed of it, at least
            self._head_bytes = self._parsed_head_size()
            self._head_upper = n
        limit = self._max_head
        if len(self.url) > limit:
            self._reject(self._url_too_long)
        elif self._head_bytes > limit:
            self._reject(HEADERS_TOO_LARGE)

    def _parsed_head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _reject(self, response: bytes) -> None:
        if self.transport.is_closing():
            return
        self._log_rejection(response)
        self._answer_and_linger(response)

    def _log_rejection(self, response: bytes) -> None:
        what = "URL" if response is self._url_too_long else "header fields"
        log.warning("Request %s over %d bytes: answered and closed.", what, self._max_head)

    def _send_and_close(self, response: bytes) -> None:
        self.head_since = None
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _answer_and_linger(self, response: bytes) -> None:
        """Answer a refused head and close gently, so that the client can read the answer.

        Closing a socket with unread bytes in it resets the connection, and the client can lose the
        answer with it. So: send the answer and end the sending side, then discard whatever the client
        still sends until it closes, or for at most ``header_timeout``.
        """
        self.head_since = None
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(response)
        if not transport.can_write_eof():  # TLS
            transport.close()
            return
        transport.write_eof()
        transport.set_protocol(_Discard(self))
        self.head_since = self._deadlines.now  # the sweep closes it if the client does not

    def head_timed_out(self) -> None:
        """Called by the sweep: the open head (or the first one) took too long; close without answering."""
        self.head_since = None
        if not self.transport.is_closing():
            self.logger.debug("Request head not complete within %ss: connection closed.", self.limits.header_timeout)
            self.transport.close()

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._stage = _HEAD
        self._begun += 1
        self._head_bytes = self._head_upper = 0
        if self.head_since is None:
            self.head_since = self._deadlines.now
        # the keep-alive timer covers the idle time before a request, the head timer the request's head
        # (here rather than on every chunk: bytes that begin no request do not keep a connection open)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def on_headers_complete(self) -> None:
        self.head_since = None
        self._stage = _BODY
        limit = self._max_head
        bound = self._chunk_len if self._begun else self._head_upper + self._chunk_len
        if bound > limit:  # the head may be over the limit: measure what was parsed
            if len(self.url) > limit:
                self._rejection = self._url_too_long
            elif self._parsed_head_size() > limit:
                self._rejection = HEADERS_TOO_LARGE
            if self._rejection:  # stop the parser; data_received sends the answer
                self._log_rejection(self._rejection)
                raise _Rejected
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stage = _IDLE
        super().on_message_complete()


class _Discard(asyncio.Protocol):
    """What reads a connection after its head was refused: drops the bytes, closes on the client's EOF."""

    __slots__ = ("_owner",)

    def __init__(self, owner: PyehsmHttpProtocol) -> None:
        self._owner = owner

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.connection_lost(exc)  # uvicorn's bookkeeping (the worker's connection set)


DEFAULT_LIMITS = HttpLimits()


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """uvicorn's options for pyehsm's HTTP protocol with the given connection guards."""
    return {**_UVICORN_OPTIONS, "http": functools.partial(PyehsmHttpProtocol, limits=limits)}


# What every pyehsm server passes to uvicorn, with its limits (app.py: UVICORN_OPTIONS, http_limits).
_UVICORN_OPTIONS: dict[str, Any] = {
    "http": PyehsmHttpProtocol,
    "ws": "none",  # no WebSocket routes: an Upgrade request is answered as plain HTTP
    "lifespan": "on",
    "server_header": False,  # do not advertise the server software (and one header less per response)
}
