"""The coalescing transport under pyehsm's HTTP protocol: writes of one event-loop step leave as one
write, in order, and nothing is held past that step or lost at close. And the protocol's connection
guards, fed byte by byte: how head bytes are counted, when heads time out, the connection limit."""

from __future__ import annotations

import asyncio
import re
import resource
import subprocess
import sys
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from pyehsm.app import http_limits
from pyehsm.http.limits import HttpLimits, default_max_connections
from pyehsm.http.protocol import PyehsmHttpProtocol
from pyehsm.http.transport import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The transport underneath: records what reaches it (the socket side is covered end to end)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.events.append("eof")

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def pause_reading(self) -> None:
        self.events.append("pause")

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def resume_reading(self) -> None:
        self.events.append("resume")


async def _pair() -> tuple[CoalescingTransport, RecordingTransport]:
    inner = RecordingTransport()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner


async def test_head_and_body_written_in_one_step_leave_as_one_write() -> None:
    outer, inner = await _pair()
    outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    outer.write(memoryview(b"ok"))
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]  # nothing left to flush


async def test_a_lone_write_is_sent_at_the_end_of_its_step() -> None:
    outer, inner = await _pair()
    outer.write(b"head")
    assert inner.writes == []
    assert outer.get_write_buffer_size() == 4
    await asyncio.sleep(0)
    assert inner.writes == [b"head"]
    outer.write(b"next")  # a later step starts over
    await asyncio.sleep(0)
    assert inner.writes == [b"head", b"next"]


async def test_order_is_kept_across_steps_and_writelines() -> None:
    outer, inner = await _pair()
    outer.write(b"a")
    outer.writelines([b"b", b"c"])
    outer.write(b"d")
    await asyncio.sleep(0)
    assert b"".join(inner.writes) == b"abcd"


async def test_close_and_write_eof_send_what_is_held_first() -> None:
    outer, inner = await _pair()
    outer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    outer.close()
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert inner.events == ["close"]
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]

    outer, inner = await _pair()
    outer.write(b"tail")
    outer.write_eof()
    assert inner.writes == [b"tail"] and inner.events == ["eof"]


async def test_abort_drops_what_is_held() -> None:
    outer, inner = await _pair()
    outer.write(b"never sent")
    outer.abort()
    await asyncio.sleep(0)
    assert inner.writes == [] and inner.events == ["abort"]


async def test_writes_after_close_go_straight_through() -> None:
    outer, inner = await _pair()
    outer.close()
    outer.write(b"late")
    assert inner.writes == [b"late"]  # the transport underneath decides what a late write means


async def test_everything_else_is_passed_through() -> None:
    outer, inner = await _pair()
    outer.pause_reading()
    outer.resume_reading()
    assert inner.events == ["pause", "resume"]
    assert outer.get_extra_info("peername") == ("127.0.0.1", 1)
    assert outer.get_extra_info("missing", "default") == "default"
    assert outer.can_write_eof() and not outer.is_closing()


# -- connection guards: head bytes, head deadlines, connection limit ---------------------------------------
LIMIT = 2048


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with the request's target (the requests reach the application)."""
    while (await receive()).get("more_body"):
        pass
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def _protocol(
    state: ServerState | None = None, limits: HttpLimits | None = None
) -> tuple[PyehsmHttpProtocol, RecordingTransport]:
    config = uvicorn.Config(_app, log_config=None, lifespan="off", ws="none", http=PyehsmHttpProtocol)
    config.load()
    limits = limits or http_limits(max_header_size=LIMIT, header_timeout=5.0, max_connections=10)
    protocol = PyehsmHttpProtocol(config, state or ServerState(), {}, asyncio.get_running_loop(), limits=limits)
    inner = RecordingTransport()
    protocol.connection_made(inner)
    return protocol, inner


async def _settle() -> None:
    for _ in range(20):  # the application tasks (pipelined ones one after the other), then the flushes
        await asyncio.sleep(0)


def _statuses(inner: RecordingTransport) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", b"".join(inner.writes))


def _assert_answered_and_lingering(inner: RecordingTransport) -> None:
    """The refusal was sent, then the sending side ended; what the client still sends is discarded."""
    assert inner.events == ["eof"]
    assert isinstance(inner.protocol, asyncio.Protocol) and not isinstance(inner.protocol, PyehsmHttpProtocol)


def _request(path: bytes = b"/a", headers: bytes = b"", body: bytes = b"") -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def test_a_head_arriving_in_pieces_is_refused_once_over_the_limit() -> None:
    protocol, inner = _protocol()
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\nX-Long: ")
    for _ in range(LIMIT // 256 - 1):
        protocol.data_received(b"a" * 256)
    assert inner.writes == [] and not inner.closing  # still under the limit, still open
    protocol.data_received(b"a" * 256)
    assert _statuses(inner) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    _assert_answered_and_lingering(inner)


async def test_a_complete_head_over_the_limit_in_one_chunk_is_refused() -> None:
    protocol, inner = _protocol()
    protocol.data_received(_request(headers=b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(30))))
    await _settle()
    assert _statuses(inner) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    _assert_answered_and_lingering(inner)


async def test_a_head_just_under_the_limit_and_a_large_body_are_served() -> None:
    protocol, inner = _protocol()
    protocol.data_received(_request(headers=b"X-H: " + b"v" * (LIMIT - 100) + b"\r\n", body=b"b" * (4 * LIMIT)))
    await _settle()
    assert _statuses(inner) == [b"HTTP/1.1 200 OK"] and not inner.closing


async def test_a_url_over_the_limit_gets_the_envelope_whole_or_in_pieces() -> None:
    protocol, inner = _protocol()
    protocol.data_received(b"GET /" + b"u" * LIMIT + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    response = b"".join(inner.writes)
    assert response.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
    assert response.endswith(b'{"code":400,"message":"Parameter invalid, The request URL is too long.","result":{}}')
    _assert_answered_and_lingering(inner)

    protocol, inner = _protocol()
    protocol.data_received(b"GET /")
    while not inner.events:  # until refused (the transport then feeds what follows elsewhere)
        protocol.data_received(b"u" * 512)
    assert len(protocol.url) <= LIMIT + 512
    assert b"".join(inner.writes).endswith(b'"Parameter invalid, The request URL is too long.","result":{}}')
    _assert_answered_and_lingering(inner)


async def test_pipelined_requests_with_large_bodies_are_not_counted_as_head() -> None:
    protocol, inner = _protocol()
    big = _request(b"/1", body=b"b" * (2 * LIMIT))
    second = _request(b"/2")
    protocol.data_received(big + second[:10])  # the next head begins behind a body larger than the limit
    protocol.data_received(second[10:])
    await _settle()
    assert _statuses(inner) == [b"HTTP/1.1 200 OK"] * 2 and not inner.closing


async def test_a_pipelined_head_over_the_limit_is_still_refused() -> None:
    protocol, inner = _protocol()
    protocol.data_received(_request(b"/1", body=b"b" * 10) + b"GET /2 HTTP/1.1\r\nX-A: " + b"a" * 100 + b"\r\nX-B: ")
    while not inner.events:
        protocol.data_received(b"b" * 256)
    assert len(protocol.headers) == 1 and protocol._head_bytes <= LIMIT + 256
    assert _statuses(inner) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    _assert_answered_and_lingering(inner)  # (the first request's answer, still to come, is dropped)


async def test_the_sweep_closes_heads_that_are_not_complete_in_time() -> None:
    state = ServerState()
    idle, idle_inner = _protocol(state)  # never sends
    partial, partial_inner = _protocol(state)
    partial.data_received(b"GET /a HTTP/1.1\r\nHo")
    served, served_inner = _protocol(state)
    served.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert state.connections == {idle, partial, served}
    deadlines = idle._deadlines
    started = idle.head_since
    assert started is not None and partial.head_since == started and served.head_since is None
    assert deadlines.sweep(started + deadlines.timeout) == 0  # not yet: the start may be noted early
    assert deadlines.sweep(started + deadlines.timeout + deadlines.interval) == 2
    assert idle_inner.events == ["close"] and partial_inner.events == ["close"]
    assert idle_inner.writes == [] and partial_inner.writes == []  # closed without an answer
    assert not served_inner.closing
    assert deadlines.sweep(started + 100 * deadlines.timeout) == 0  # a served connection waits for keep-alive


async def test_a_later_request_on_a_kept_alive_connection_gets_its_own_deadline() -> None:
    protocol, inner = _protocol()
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert _statuses(inner) == [b"HTTP/1.1 200 OK"] and protocol.head_since is None
    protocol._deadlines.now = 1000.0  # the sweep's clock when the next request's first byte arrives
    protocol.data_received(b"GET /b HT")
    assert protocol.head_since == 1000.0


async def test_connections_beyond_the_limit_are_answered_503_and_closed() -> None:
    state = ServerState()
    limits = HttpLimits(max_header_size=LIMIT, header_timeout=5.0, max_connections=2)
    kept = [_protocol(state, limits) for _ in range(2)]
    refused, inner = _protocol(state, limits)
    await _settle()
    assert all(not k_inner.closing for _, k_inner in kept)
    assert _statuses(inner) == [b"HTTP/1.1 503 Service Unavailable"] and inner.events == ["close"]
    assert refused.head_since is None


def test_the_default_connection_limit_leaves_descriptors_for_the_worker() -> None:
    assert default_max_connections(1024) == 768
    assert default_max_connections(1 << 20) == 1000
    assert default_max_connections(100) == 16


async def test_a_refused_connection_is_closed_by_the_client_or_the_sweep() -> None:
    state = ServerState()
    protocol, inner = _protocol(state)
    protocol.data_received(b"GET /a HTTP/1.1\r\nX-Long: " + b"a" * LIMIT)
    _assert_answered_and_lingering(inner)
    answer = b"".join(inner.writes)
    discard = inner.protocol
    assert isinstance(discard, asyncio.Protocol)
    discard.data_received(b"a" * LIMIT)  # still sending: dropped, nothing more is written
    assert b"".join(inner.writes) == answer
    assert discard.eof_received() is False  # the client closed: the transport closes too
    discard.connection_lost(None)
    assert state.connections == set()  # uvicorn's bookkeeping ran

    protocol, inner = _protocol(state)
    protocol.data_received(b"GET /" + b"u" * (LIMIT + 1))
    _assert_answered_and_lingering(inner)
    since = protocol.head_since
    assert since is not None  # a client that never closes is closed by the sweep
    deadlines = protocol._deadlines
    assert deadlines.sweep(since + deadlines.timeout + deadlines.interval) == 1
    assert inner.events == ["eof", "close"]


def test_the_file_limit_is_raised_to_the_hard_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 64:
        pytest.skip("the hard file limit leaves nothing to raise")
    script = (
        "import resource\n"
        "from pyehsm.http.limits import raise_file_limit\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"  # in a child: this process keeps its own
        "print(raise_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    returned, now = (int(word) for word in out.split())
    assert returned == now > 64
    if hard != resource.RLIM_INFINITY:
        assert now == hard
