"""Whether any connection committed, read from the WAL-index header without a syscall (WalIndexWatch)."""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import sqlite3
import struct
import sys
import time
from pathlib import Path

# The WAL-index header (https://www.sqlite.org/walformat.html, section 2.2.1): two copies of 48 bytes at the
# start of the -shm file, native byte order; iVersion is 3007000, isInit (byte 12) is 1 once initialised.
_WAL_HEADER_BYTES = 48
_WAL_INDEX_VERSION = struct.pack("=I", 3007000)
_WAL_MAP_BYTES = 136  # both header copies and the checkpoint info: the part SQLite never moves


class WalIndexWatch:
    """Whether any connection committed to a WAL-mode SQLite database, read without a syscall or a lock.

    ``PRAGMA data_version`` answers that by opening a read transaction (two fcntl() calls on the -shm file
    plus statement overhead: about 5 us, most of a cached key lookup); inside, SQLite compares the WAL-index
    header with the one it saw last and counts a change when they differ. This class makes the same
    comparison directly on the header in the -shm file, mapped read-only into this process:

    * every commit, by any connection, rewrites the header (iChange is incremented, mxFrame moves) before
      the commit returns: copy 2 first, then copy 1 (SQLite's walIndexWriteHdr);
    * ``header()`` returns copy 1 only when the two copies are equal, so a header being written (or left
      half-written by a crashed writer, which SQLite recovers on its next read transaction) is never
      trusted: the caller asks SQLite itself (``PRAGMA data_version``) then;
    * an unchanged header therefore means no commit completed in between; a changed one may be a
      checkpoint restarting the WAL (the caller just reloads rows: conservative).

    The mapping uses the file descriptor SQLite itself holds on the -shm file: opening and closing another
    descriptor on it would drop this process's POSIX locks on the file (close() releases all of them),
    SQLite's among them. A mapping needs no descriptor afterwards. The -shm file is not truncated or
    recreated while any connection of this process has the database open (SQLite holds a shared lock on
    its DMS byte for that), and the store unmaps before it closes its connection.

    ``attach`` returns None wherever this cannot be set up safely (not Linux, not WAL mode, no -shm file,
    an unknown header version): the store then uses ``PRAGMA data_version`` on every lookup, as before.
    """

    def __init__(self, address: int) -> None:
        self._address = address
        self._first = (ctypes.c_char * _WAL_HEADER_BYTES).from_address(address)
        self._second = (ctypes.c_char * _WAL_HEADER_BYTES).from_address(address + _WAL_HEADER_BYTES)

    def header(self) -> bytes | None:
        """The current WAL-index header, or None while it is being written."""
        first = self._first.raw
        return first if first == self._second.raw else None

    @classmethod
    def attach(cls, conn: sqlite3.Connection, path: Path) -> WalIndexWatch | None:
        if sys.platform != "linux":
            return None
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            return None
        conn.execute("PRAGMA data_version").fetchone()  # a read transaction: SQLite has the -shm file open
        try:
            shm = os.stat(f"{path}-shm")
        except OSError:
            return None
        if shm.st_size < _WAL_MAP_BYTES:
            return None
        fd = _descriptor_of(shm)
        if fd is None:
            return None
        address = _libc_mmap(fd)
        if address is None:
            return None
        watch = cls(address)
        for _ in range(100):  # another worker may be writing the header right now
            header = watch.header()
            if header is not None:
                if header[:4] == _WAL_INDEX_VERSION and header[12] == 1:
                    return watch
                break
            time.sleep(0.001)
        watch.close()
        return None

    def close(self) -> None:
        """Unmap; the caller drops this object first (reading it afterwards would fault)."""
        if self._address:
            _libc().munmap(self._address, _WAL_MAP_BYTES)
            self._address = 0


def _descriptor_of(target: os.stat_result) -> int | None:
    """A descriptor this process already has open on ``target`` (SQLite's, on the -shm file)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            st = os.fstat(int(name))
        except (OSError, ValueError):
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return int(name)
    return None


@functools.cache
def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mmap.restype = ctypes.c_void_p
    lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    lib.munmap.restype = ctypes.c_int
    lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def _libc_mmap(fd: int) -> int | None:
    """A read-only shared mapping of the start of ``fd``'s file without duplicating the descriptor
    (:mod:`mmap` dups it and closes the dup later, which would drop SQLite's locks)."""
    try:
        address = _libc().mmap(None, _WAL_MAP_BYTES, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    except (OSError, AttributeError):
        return None
    if not address or address == ctypes.c_void_p(-1).value:
        return None
    return int(address)
