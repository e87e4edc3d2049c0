"""HTTP/1.1 framing through pyehsm's protocol (one write per response), byte for byte on a raw socket:
keep-alive, pipelining, HEAD, Connection: close and uvicorn's own 400 for a malformed request."""

from __future__ import annotations

import socket

from tests.support.server import ServerProcess


def _exchange(server: ServerProcess, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _responses(data: bytes) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Split a byte stream into (status line, headers, body) by Content-Length."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines)}
        length = int(headers.get(b"content-length", b"0"))
        out.append((status, headers, rest[:length]))
        data = rest[length:]
    return out


def test_pipelined_requests_get_complete_responses_in_order(server: ServerProcess) -> None:
    raw = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /ehsm?Action=NoSuchAction HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    responses = _responses(_exchange(server, raw))
    assert [status for status, _, _ in responses] == [b"HTTP/1.1 200 OK"] * 3
    assert b'"status"' in responses[0][2]
    assert b'"code":404' in responses[1][2]  # the envelope of an unknown action
    assert responses[2][2] == b'{"status":"ready"}'
    assert responses[2][1][b"connection"] == b"close"
    assert all(int(h[b"content-length"]) == len(body) for _, h, body in responses)


def test_head_gets_headers_only(server: ServerProcess) -> None:
    data = _exchange(server, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and body == b""


def test_a_malformed_request_gets_a_400_and_the_connection_closes(server: ServerProcess) -> None:
    data = _exchange(server, b"NOT A REQUEST\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert data.endswith(b"Invalid HTTP request received.")
