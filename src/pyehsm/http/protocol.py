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
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport wrapper that joins writes made within one event-loop step into one."""

    __slots__ = ("_flush_scheduled", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held = b""
        self._flush_scheduled = False

    # -- writing -------------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held:
            self._transport.write(self._held + data)
            self._held = b""
            return
        if self._transport.is_closing():
            self._transport.write(data)  # let the transport report it as it would
            return
        self._held = bytes(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_at_end_of_step)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._transport.write(held)

    def _flush_at_end_of_step(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    # -- closing -------------------------------------------------------------------------------------
    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = b""
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    # -- everything else goes straight through ---------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class PyehsmHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))


# What every pyehsm server passes to uvicorn (`pyehsm serve` and the in-process test servers alike).
UVICORN_OPTIONS: dict[str, Any] = {
    "http": PyehsmHttpProtocol,
    "ws": "none",  # no WebSocket routes: an Upgrade request is answered as plain HTTP
    "lifespan": "on",
    "server_header": False,  # do not advertise the server software (and one header less per response)
}
