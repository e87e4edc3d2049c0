"""The HTTP layer's guards against connections that hold a worker, on raw sockets against `pyehsm serve`:
the request head size limit (431; a long URL gets the envelope), the head timeout (connections that send
nothing, or part of a head, are closed), the per-worker connection limit (503), and other clients being
served while stalled connections are open."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import NO_POOL_ARGS, ServerProcess

LIMIT = 16 * 1024  # the default --max-header-size
URL_TOO_LONG = {"code": 400, "message": "Parameter invalid, The request URL is too long.", "result": {}}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that gives a request head half a second."""
    data = tmp_path_factory.mktemp("quick") / "data"
    proc = ServerProcess(data, "--header-timeout", "0.5", *NO_POOL_ARGS).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that gives a request head a minute: stalled connections stay open for the whole test."""
    data = tmp_path_factory.mktemp("patient") / "data"
    proc = ServerProcess(data, "--header-timeout", "60", *NO_POOL_ARGS).start()
    try:
        yield proc
    finally:
        proc.stop()


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _read_to_close(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _exchange(server: ServerProcess, raw: bytes) -> bytes:
    with _connect(server) as sock:
        sock.sendall(raw)
        return _read_to_close(sock)


def _still_open(sock: socket.socket) -> bool:
    """True when the server has neither answered nor closed the connection (nothing to read yet)."""
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(30)
    return False


def _status_and_body(response: bytes) -> tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


# -- head size -------------------------------------------------------------------------------------------
def test_a_header_over_the_limit_gets_431_and_the_connection_closes(server: ServerProcess) -> None:
    complete = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * LIMIT + b"\r\n\r\n"
    status, body = _status_and_body(_exchange(server, complete))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert body == b"Request header fields too large."

    with _connect(server) as sock:  # a header that keeps coming: refused once past the limit
        sock.sendall(b"POST /ehsm?Action=GetVersion HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        for _ in range(LIMIT // 4096 + 1):
            sock.sendall(b"a" * 4096)
        status, _ = _status_and_body(_read_to_close(sock))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_many_headers_over_the_limit_get_431(server: ServerProcess) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200) for i in range(LIMIT // 200))
    status, _ = _status_and_body(_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_a_head_under_the_limit_is_served(server: ServerProcess) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (LIMIT - 1024) + b"\r\nConnection: close\r\n\r\n"
    status, _ = _status_and_body(_exchange(server, raw))
    assert status == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize("length", [LIMIT + 1, 70_000])  # over the limit; over what httptools can parse
def test_a_url_over_the_limit_gets_the_envelope(server: ServerProcess, length: int) -> None:
    target = b"/ehsm?Action=GetVersion&pad="
    target += b"a" * (length - len(target))
    status, body = _status_and_body(_exchange(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == b"HTTP/1.1 200 OK"  # docs/protocol.md section 1: always HTTP 200 with the envelope
    assert json.loads(body) == URL_TOO_LONG


# -- head timeout ----------------------------------------------------------------------------------------
def test_a_connection_that_never_sends_is_closed(quick: ServerProcess) -> None:
    with _connect(quick) as sock:
        assert _read_to_close(sock) == b""  # closed by the server, without an answer


def test_a_partial_head_that_stalls_is_closed(quick: ServerProcess) -> None:
    with _connect(quick) as sock:
        sock.sendall(b"POST /ehsm?Action=GetVersion HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        assert _read_to_close(sock) == b""


def test_a_stalled_second_request_on_a_kept_alive_connection_is_closed(quick: ServerProcess) -> None:
    with _connect(quick) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request, never finished
        response = _read_to_close(sock)
    assert response.count(b"HTTP/1.1 ") == 1 and response.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_head_sent_a_byte_at_a_time_is_closed_though_bytes_keep_coming(quick: ServerProcess) -> None:
    with _connect(quick) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        for _ in range(2000):  # one byte every 20 ms, for up to 40 s
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                break
            sock.sendall(b"a")
        assert readable, "the server never closed the connection"
        assert _read_to_close(sock) == b""


# -- other clients while connections stall ---------------------------------------------------------------
def test_stalled_and_oversized_heads_do_not_hold_up_other_clients(patient: ServerProcess) -> None:
    idle = [_connect(patient) for _ in range(4)]
    partial = [_connect(patient) for _ in range(4)]
    for sock in partial:
        sock.sendall(b"POST /ehsm?Action=Encrypt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Slow: a")
    streaming = [_connect(patient) for _ in range(2)]
    try:
        for sock in streaming:
            sock.sendall(b"POST /ehsm?Action=Encrypt HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        for _ in range(LIMIT // 4096 + 1):  # interleaved: both heads grow at once
            for sock in streaming:
                sock.sendall(b"a" * 4096)
        with patient.client() as client:  # meanwhile a client does real work
            keyid = client.create_key("EH_AES_GCM_256")
            assert client.decrypt(keyid, client.encrypt(keyid, b"still served")) == b"still served"
        for sock in streaming:
            status, _ = _status_and_body(_read_to_close(sock))
            assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert all(_still_open(sock) for sock in idle + partial)  # the stalled ones were there all along
    finally:
        for sock in idle + partial + streaming:
            sock.close()


# -- connection limit ------------------------------------------------------------------------------------
def _served(server: ServerProcess) -> socket.socket | None:
    """A connection on which a keep-alive request was answered (it counts until closed), or None."""
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = sock.recv(65536)
    if answer.startswith(b"HTTP/1.1 200 OK\r\n"):
        return sock
    sock.close()
    return None


def _served_eventually(server: ServerProcess) -> socket.socket:
    """Connections closed just before may still count for a moment: try until one is served."""
    for _ in range(300):
        sock = _served(server)
        if sock is not None:
            return sock
        select.select([], [], [], 0.1)
    raise AssertionError("no connection was served")


def test_connections_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--max-connections", "3", *NO_POOL_ARGS).start()
    held: list[socket.socket] = []
    try:
        held = [_served_eventually(server) for _ in range(3)]
        with _connect(server) as refused:
            status, body = _status_and_body(_read_to_close(refused))
        assert status == b"HTTP/1.1 503 Service Unavailable"
        assert body == b"Too many connections, try again later."
        assert all(_still_open(sock) for sock in held)
        held.pop().close()
        held.append(_served_eventually(server))  # a freed place is taken again
        assert "per worker at most 3 connections" in server.log()
    finally:
        for sock in held:
            sock.close()
        server.stop()
