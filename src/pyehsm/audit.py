"""The audit log: one JSON line per request; never payload values, keys or secrets.

``record`` only queues the request's facts; the lines queued during one event-loop turn are encoded and
written together at the start of the next turn (``loop.call_soon``: a group commit, one write() for
every request that finished in the turn). Without a running event loop a record is written at once.
``close`` writes what is queued.

A file target is private, like every other file pyehsm writes: it is created mode 0600, and an existing
regular file that group or others can access is refused (StartupError), as the root key file is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from typing import IO

import msgspec

from pyehsm.errors import StartupError

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class _Record(msgspec.Struct, gc=False):
    """One line, its fields in this order: {"time":...,"request_id":...,...,"latency_us":...}."""

    time: int
    request_id: str
    appid: str
    action: str
    keyid: str | None
    code: int
    latency_us: int


class AuditLog:
    def __init__(self, target: str, stream: IO[bytes] | None = None) -> None:
        """``target``: "" off, "-" stdout, else a file path (appended, created 0600; rotate with the usual tools).

        ``stream``: write to this binary stream instead of ``target`` (the caller keeps and closes it).
        """
        self._stream: IO[bytes] | None = None
        self._owned = False
        if stream is not None:
            self._stream = stream
        elif target == "-":
            self._stream = sys.stdout.buffer
        elif target:
            self._stream = _open_private(target)
            self._owned = True
        self._queued: list[_Record] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def __repr__(self) -> str:
        return "<AuditLog>"

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def record(
        self,
        *,
        time_ms: int,
        request_id: str,
        appid: str,
        action: str,
        keyid: str | None,
        code: int,
        latency_us: int,
    ) -> None:
        if self._stream is None:
            return
        self._queued.append(_Record(time_ms, request_id, appid, action, keyid, code, latency_us))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a tool, a test): write through
            self.flush()
            return
        if loop is not self._flush_loop:  # the first record of this turn
            self._flush_loop = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the queued lines with one write(); a failure is logged (never the lines), never raised."""
        self._flush_loop = None
        if not self._queued:
            return
        records, self._queued = self._queued, []
        if self._stream is None:
            return
        data = _encoder.encode_lines(records)
        try:
            written = self._stream.write(data)
            if written != len(data):  # a raw file may write less than asked
                _write_rest(self._stream, memoryview(data)[written or 0 :])
        except (OSError, ValueError):  # ValueError: the stream was closed under us
            log.warning("audit log write failed (up to %d records lost)", len(records))

    def close(self) -> None:
        self.flush()
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None


def _open_private(path: str) -> IO[bytes]:
    """``path`` opened for appending, created 0600; StartupError if group or others can access the file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot open the audit log {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):  # not a pipe or a terminal
        os.close(fd)
        raise StartupError(
            f"refusing to start: audit log {path} has mode {stat.S_IMODE(mode):04o}; "
            f"it must not be accessible by group or others (chmod 600 {path})"
        )
    return os.fdopen(fd, "ab", buffering=0)


def _write_rest(stream: IO[bytes], data: memoryview) -> None:
    while data:
        written = stream.write(data)
        if not written:
            raise OSError("audit log: nothing written")
        data = data[written:]
