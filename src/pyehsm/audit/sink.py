"""Where audit lines go: a private file with rotation (the chain continues across files), or a stream.

File rules (docs/audit.md, "Files"):
- created 0600; an existing regular file that group or others can access is refused (StartupError);
- a write that fails part-way is cut back (ftruncate) to the last complete line, so a full disk never
  leaves half a record in the middle of the chain;
- at open, an incomplete last line (a kill -9 during a write) is cut off and its size reported, and the
  last complete line (of this file, else of the newest rotated file) is where the chain continues;
- rotation renames the file to ``PATH.<seq of its first record, 12 digits>`` and opens a new PATH: the
  names sort in chain order.
"""

from __future__ import annotations

import abc
import contextlib
import glob
import os
import stat
import sys
from typing import IO

from pyehsm.errors import StartupError

_TAIL_READ = 1 << 16


def rotated_files(path: str) -> list[str]:
    """The rotated files of ``path``, oldest first (then ``path`` itself is the newest)."""
    names = [n for n in glob.glob(glob.escape(path) + ".*") if n[len(path) + 1 :].isdigit()]
    return sorted(names)


def last_line(fd: int, size: int) -> bytes | None:
    """The last complete line of a file ending in a newline (without it), or None when empty."""
    if size == 0:
        return None
    start = size
    tail = b""
    while start > 0:
        step = min(_TAIL_READ, start)
        start -= step
        tail = os.pread(fd, step, start) + tail
        cut = tail.rfind(b"\n", 0, len(tail) - 1)
        if cut >= 0:
            return tail[cut + 1 : -1]
    return tail[:-1]


class FileSink:
    """Appends lines to a private file; ``write`` is all-or-nothing per call (see module doc)."""

    def __init__(self, path: str, *, fsync: bool = False, reserve_bytes: int = 0) -> None:
        self.path = path
        self.fsync = fsync
        self.reserve_bytes = reserve_bytes  # required mode: space kept free for outcome records
        self.fd = -1
        self.size = 0
        self.dropped_bytes = 0  # an incomplete last line cut off at open
        self.first_seq: int | None = None  # seq of the current file's first record (set by the writer)
        self.opened_us = 0
        self._open()

    def __repr__(self) -> str:
        return f"<FileSink {self.path}>"

    def _open(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StartupError(f"cannot open the audit log {self.path}: {exc.strerror or exc}") from None
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.close(fd)
            raise StartupError(
                f"refusing to start: audit log {self.path} has mode {stat.S_IMODE(st.st_mode):04o}; "
                f"it must not be accessible by group or others (chmod 600 {self.path})"
            )
        self.fd = fd
        self.size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        if self.size and os.pread(fd, 1, self.size - 1) != b"\n":  # a torn last line
            keep = self._last_newline_end()
            os.ftruncate(fd, keep)
            self.dropped_bytes += self.size - keep
            self.size = keep

    def _last_newline_end(self) -> int:
        pos = self.size
        while pos > 0:
            step = min(_TAIL_READ, pos)
            chunk = os.pread(self.fd, step, pos - step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return pos - step + cut + 1
            pos -= step
        return 0

    def last_line(self) -> bytes | None:
        """Where the chain continues: this file's last line, else the newest rotated file's."""
        line = last_line(self.fd, self.size)
        if line is not None:
            return line
        for name in reversed(rotated_files(self.path)):
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                end = os.fstat(fd).st_size
                # a rotated file only ever ends with a complete line
                line = last_line(fd, end) if end and os.pread(fd, 1, end - 1) == b"\n" else None
            finally:
                os.close(fd)
            if line is not None:
                return line
        return None

    def write(self, data: bytes) -> None:
        """Append ``data`` completely or not at all (OSError; the file is cut back to its old size)."""
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                if written <= 0:
                    raise OSError("audit log: nothing written")
                view = view[written:]
            if self.fsync:
                os.fdatasync(self.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    @property
    def reserve_path(self) -> str:
        return self.path + ".reserve"

    def ensure_reserve(self) -> bool:
        """Keep ``reserve_bytes`` allocated beside the log (True when it is, or none is wanted)."""
        if not self.reserve_bytes:
            return True
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            if os.fstat(fd).st_size >= self.reserve_bytes:
                return True
            os.posix_fallocate(fd, 0, self.reserve_bytes)
            return True
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            return False
        finally:
            os.close(fd)

    def release_reserve(self) -> bool:
        """Free the reserve so that pending outcome records fit (True when there was one to free)."""
        try:
            held = os.stat(self.reserve_path).st_size > 0
            os.truncate(self.reserve_path, 0)
        except OSError:
            return False
        return held

    def rotate(self) -> str:
        """Rename the current file after its first record's seq and start a new one; returns the new name."""
        target = f"{self.path}.{self.first_seq or 0:012d}"
        os.rename(self.path, target)
        os.close(self.fd)
        self.first_seq = None
        self._open()
        return target

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.reserve_bytes:
            with contextlib.suppress(OSError):
                os.unlink(self.reserve_path)


class StreamSink:
    """A stream the caller owns (stdout for ``--audit-log -``): no rotation, no chain continuation."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.size = 0
        self.dropped_bytes = 0
        self.first_seq: int | None = None

    def __repr__(self) -> str:
        return "<StreamSink>"

    def last_line(self) -> bytes | None:
        return None

    def write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                written = self.stream.write(view)
                if not written:
                    raise OSError("audit log: nothing written")
                view = view[written:]
            self.stream.flush()
        except ValueError as exc:  # the stream was closed under us
            raise OSError(str(exc)) from None
        self.size += len(data)

    def rotate(self) -> str:
        return ""

    def close(self) -> None:
        pass


class AsyncSink(abc.ABC):
    """A sink written from a task (audit/pgsink.py): ``write_lines`` stores one batch atomically or raises."""

    first_seq: int | None = None
    size = 0
    dropped_bytes = 0

    @abc.abstractmethod
    def last_line(self) -> bytes | None: ...

    @abc.abstractmethod
    async def write_lines(self, first_seq: int, lines: list[bytes]) -> None: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...
