"""The mapped replay table's whole-table lock and the host's boot id (store/mapped_replay.py).

The lock is the C extension's (its stripes are the file's first STRIPES bytes, open-file-description locks)
or, when the extension is not built, the same lock taken from Python: fcntl's OFD lock on those bytes where
the platform has it, else a whole-file flock. Either way it excludes the other workers on the same table."""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import uuid
from pathlib import Path
from types import ModuleType

STRIPES = 64  # lock stripes: the file's first 64 bytes (_replay_probe.c's STRIPES)
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class TableLock:
    """The whole-table lock (every stripe) for the duration of a ``with`` block: the C extension's, or
    the same lock taken from Python when it is not built."""

    def __init__(self, fd: int, probe: ModuleType | None) -> None:
        self._fd = fd
        self._probe = probe

    def __enter__(self) -> None:
        if self._probe is not None:
            self._probe.lock_table(self._fd)
        else:
            _lock_table(self._fd, take=True)

    def __exit__(self, *_: object) -> None:
        if self._probe is not None:
            self._probe.unlock_table(self._fd)
        else:
            _lock_table(self._fd, take=False)


# struct flock of 64-bit Linux (l_type, l_whence, l_start, l_len, l_pid, padded to 32 bytes): the
# Python path takes the C extension's open-file-description lock on bytes [0, STRIPES) where it can.
_FLOCK = struct.Struct("@hhqqi4x")
_OFD_LOCKS = sys.platform == "linux" and hasattr(fcntl, "F_OFD_SETLKW") and struct.calcsize("P") == 8


def _lock_table(fd: int, *, take: bool) -> None:
    """Take (waiting for it, without the GIL) or release the whole-table lock from Python."""
    if _OFD_LOCKS:
        kind = fcntl.F_WRLCK if take else fcntl.F_UNLCK
        command = fcntl.F_OFD_SETLKW if take else fcntl.F_OFD_SETLK
        fcntl.fcntl(fd, command, _FLOCK.pack(kind, os.SEEK_SET, 0, STRIPES, 0))
    else:  # a whole-file lock of the open file description: the same exclusion between workers
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)


def host_boot_id() -> bytes:
    """The kernel's id of this boot of the host (16 bytes); zeros where there is none (never matches a
    previous boot, so an unclean host restart is then not detected)."""
    try:
        return uuid.UUID(_BOOT_ID.read_text().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)
