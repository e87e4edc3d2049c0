"""Connection guards: what one connection may hold of a worker (head size, time to send a head, connections
per worker), the file limit they are sized from, and the answers given before a request reaches the
application."""

from __future__ import annotations

import dataclasses
import resource

DEFAULT_MAX_HEADER_SIZE = 16 * 1024  # bytes of request line and header fields
DEFAULT_HEADER_TIMEOUT = 5.0  # seconds from connect (or a later request's first byte) to its complete head
DEFAULT_MAX_CONNECTIONS = 1000  # per worker process
FILE_LIMIT_RESERVE = 256  # descriptors a worker keeps for its store, logs and key pool


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """What one connection may hold of a worker: head size, time to send a head, connections per worker."""

    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # The answer to a request line over max_header_size: the listener's protocol says it (app.py passes the
    # first adapter's; eHSM names its Action in the URL, so it answers in its envelope).
    url_too_long: bytes = b""


def default_max_connections(file_limit: int) -> int:
    """1,000 per worker, or fewer when the file limit leaves less after the worker's own descriptors."""
    return max(16, min(DEFAULT_MAX_CONNECTIONS, file_limit - FILE_LIMIT_RESERVE))


def raise_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit where allowed; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def _plain_response(status: int, reason: str, text: str) -> bytes:
    body = text.encode("ascii")
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


def closing_response(status: int, reason: str, content_type: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 response that closes the connection (for answers given before the application)."""
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
    return head.encode("ascii") + b"connection: close\r\n\r\n" + body


# Answers given before a request reaches the application, each followed by closing the connection.
HEADERS_TOO_LARGE = _plain_response(431, "Request Header Fields Too Large", "Request header fields too large.")
TOO_MANY_CONNECTIONS = _plain_response(503, "Service Unavailable", "Too many connections, try again later.")
URL_TOO_LONG = _plain_response(414, "URI Too Long", "Request URL too long.")  # unless the limits name another
