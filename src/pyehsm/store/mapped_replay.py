"""The embedded replay guard: a hash table in one memory-mapped file shared by a node's workers.

Every signed request inserts (appid, sign) here; an entry still live means the request was seen. The
SQLite guard (sqlite_replay.py) pays a B-tree insert in a transaction per batch; this table pays one
keyed hash, a few byte-range lock calls and a few 8-byte reads and writes, with the same durability (the file
lives in the data dir: a worker crash or a restart loses nothing; the page cache writes it back). A host
that goes down while the table is open (power loss, kernel crash) may lose its last entries: the header
records the boot whose processes have it open and how many do (each flushes and signs off at a clean
close), and a table left open by a previous boot gets a floor, like a lost one (below).

Layout: a 4 KiB header (magic, version, geometry, the overflow horizon, a random hash key, the floor; then
the boot id and the open count) and then
``buckets`` buckets of 8 slots; a slot is (tag, expires_ms), two little-endian u64. ``tag`` is a keyed
64-bit BLAKE2b of (appid, sign) (0 = empty slot); an entry whose ``expires_ms`` has passed is free.
Each tag has two candidate buckets, both derived from the tag (so a resize can rehash without the
original request): a lookup reads both, an insert takes a free slot in the first, else in the second
(two candidates let the table fill far beyond what one bucket per entry would before overflowing).

When both buckets are full of live entries the entry goes to the SQLite guard instead, and the
header's overflow horizon is pushed to that entry's expiry: until the horizon passes, every request
is also looked up in SQLite, so an entry that went there is still refused after slots free up here.
A table too small for the load costs speed (a SQLite lookup per request, an insert per overflow),
never a missed replay.

A table created while the node already has apps (restored from a backup, deleted, unreadable) cannot
know which recent requests were seen: its header records a floor and requests timestamped before it are
refused. The caller (app.py) sets the floor to the creation time plus the timestamp window (10 minutes):
a request accepted before the loss may carry a timestamp up to the window into the future, so anything
timestamped before creation + window may have been seen. The same floor is written into a table whose
overflow database (replay.db) was lost while the table said it held live entries there. A new node's
table has floor 0. Each refusal is counted by reason (``refused``: ``seen``, ``before_floor``) for
/metrics (docs/operations.md, "Replay protection: the rule and its cost").

Every read and write of a bucket happens under a lock: a request locks the stripes of its two buckets
(byte-range locks of the file, 64 stripes: _replay_probe.c), everything else (open, resize, the
overflow path) the whole table. The tag's keyed hash keeps an attacker from aiming requests at one
bucket or stripe.

The C extension is optional (pip skips it where no compiler is available, and on systems without
open-file-description locks): without it every request runs the Python path under the whole-table
lock, taken here with the same locks on Linux (so both kinds of process can share a table) and with
flock() elsewhere. Same decisions, same table bytes (a differential test pins them), only slower.
``PROBE_IMPL`` says which one this installation runs.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Literal

from pyehsm.clock import Clock
from pyehsm.store.limits import MAX_REPLAY_CAPACITY, MIN_REPLAY_CAPACITY
from pyehsm.store.replay_lock import TableLock, host_boot_id
from pyehsm.store.sqlite_replay import SqliteReplayGuard, fingerprint

log = logging.getLogger(__name__)

MAGIC = b"PYEHSMRP"
VERSION = 2
SLOTS_PER_BUCKET = 8
BUCKET_BYTES = SLOTS_PER_BUCKET * 16
DATA_OFFSET = 4096

# magic, version, slots per bucket, buckets, overflow horizon, hash key, floor (oldest timestamp it vouches for)
_HEADER = struct.Struct("<8sIIQQ16sQ")
_OVERFLOW_AT = 24  # byte offset of the overflow horizon inside the header
_FLOOR_AT = 48  # byte offset of the floor inside the header
# After the packed header (zeros in a table written before they existed): the boot of the host whose
# processes have the table open, and how many guards have it open (each decrements it at a clean close,
# after flushing the table to disk).
_BOOT_AT = 64
_OPEN_AT = 80
_U64 = struct.Struct("<Q")
_SLOT = struct.Struct("<QQ")
_EXPIRIES = struct.Struct("<" + "8xQ" * SLOTS_PER_BUCKET)  # a bucket's expiries, skipping its tags
_TAG_BYTES = 8


OVERFLOW_LOG_EVERY_MS = 60_000  # the "table is full" warning, at most this often per process


def _load_probe() -> ModuleType | None:
    """The C extension, or None when this installation was built without it."""
    try:
        from pyehsm.store import _replay_probe
    except ImportError:
        return None
    return _replay_probe


_PROBE = _load_probe()
PROBE_IMPL: Literal["c", "python"] = "c" if _PROBE is not None else "python"


def buckets_for(capacity: int) -> int:
    """The bucket count (a power of two) that holds at least ``capacity`` entries."""
    wanted = max(1, -(-capacity // SLOTS_PER_BUCKET))
    return 1 << (wanted - 1).bit_length()


class MappedReplayGuard:
    """ReplayGuard over a mapped file (fast path) with a SQLite guard behind it for overflow."""

    def __init__(
        self,
        path: Path,
        retention_ms: int,
        capacity: int,
        clock: Clock,
        overflow: SqliteReplayGuard,
        floor_ms: int = 0,
        boot_id: bytes | None = None,
        *,
        c_probe: bool = True,
    ) -> None:
        """``floor_ms``: written into a table this call creates (a new or an unreadable file), or raised
        to in a table whose overflow database was lost while it held live entries: requests timestamped
        earlier are refused, since the table cannot know whether they were seen. 0 for a node that never
        served anyone; for one that did, the start-up time plus the timestamp window (app.py). The same
        floor is raised in a table left open by a previous boot of the host (a power loss or a kernel
        crash: the page cache may not have written its last entries). ``boot_id``: the host's boot
        (default: the kernel's boot_id; tests pass their own).
        ``c_probe=False`` runs the Python path even where the C extension is built (the tests compare them)."""
        if not MIN_REPLAY_CAPACITY <= capacity <= MAX_REPLAY_CAPACITY:
            raise ValueError(f"replay capacity must be between {MIN_REPLAY_CAPACITY} and {MAX_REPLAY_CAPACITY}")
        self.path = path
        self.retention_ms = retention_ms
        self.overflow = overflow
        self._clock = clock
        self._probe = _PROBE if c_probe else None
        self._boot_id = boot_id if boot_id is not None else host_boot_id()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with self._locked():
                self._buckets, self._key, floor = self._open_table(buckets_for(capacity), floor_ms)
                self._register_open()
            self._map = mmap.mmap(self._fd, DATA_OFFSET + self._buckets * BUCKET_BYTES)
        except BaseException:
            os.close(self._fd)
            raise
        self._mask = self._buckets - 1
        self.refused = {"seen": 0, "before_floor": 0}  # refusals by reason (metrics)
        self.overflowed = 0  # entries of this process that found both buckets full and went to SQLite (metrics)
        self._overflow_logged_ms: int | None = None
        if floor > self._clock.now_ms():
            log.warning(
                "replay table %s cannot know which recent requests were seen: requests timestamped before "
                "%d (Unix ms) are refused as replays",
                self.path,
                floor,
            )

    def __repr__(self) -> str:
        return f"<MappedReplayGuard {self.path} buckets={self._buckets} probe={self.probe_impl}>"

    @property
    def floor_ms(self) -> int:
        """Requests timestamped before this are refused; read from the shared header at every request, so
        a floor another worker raised after this one opened the table is in force here too."""
        return int(_U64.unpack_from(self._map, _FLOOR_AT)[0])

    @property
    def capacity(self) -> int:
        return self._buckets * SLOTS_PER_BUCKET

    @property
    def probe_impl(self) -> Literal["c", "python"]:
        """Which implementation answers the common case: the C extension or the Python path."""
        return "c" if self._probe is not None else "python"

    def _locked(self) -> TableLock:
        return TableLock(self._fd, self._probe)

    # -- the table file ----------------------------------------------------------------------------------
    def _open_table(self, buckets: int, floor_ms: int) -> tuple[int, bytes, int]:
        """Under the lock: use the file as it is, or (re)create it with ``buckets`` buckets; returns the
        geometry, the hash key and the floor in force."""
        size = os.fstat(self._fd).st_size
        header = os.pread(self._fd, _HEADER.size, 0) if size >= DATA_OFFSET else b""
        if len(header) == _HEADER.size:
            magic, version, slots, old_buckets, horizon, key, old_floor = _HEADER.unpack(header)
            valid = (
                magic == MAGIC
                and version == VERSION
                and slots == SLOTS_PER_BUCKET
                and old_buckets >= 1
                and old_buckets & (old_buckets - 1) == 0
                and size == DATA_OFFSET + old_buckets * BUCKET_BYTES
            )
            if valid:
                floor = old_floor
                if self.overflow.created and horizon > self._clock.now_ms() and floor_ms > floor:
                    # the overflow database held live entries and is gone: they may have been seen
                    log.warning("replay overflow %s was lost while it held live entries", self.overflow.path)
                    floor = floor_ms
                if self._left_open_by_a_previous_boot() and floor_ms > floor:
                    log.warning(
                        "replay table %s was still open when the host went down (power loss or crash?): "
                        "its last entries may not have reached the disk",
                        self.path,
                    )
                    floor = floor_ms
                if floor != old_floor:
                    os.pwrite(self._fd, _U64.pack(floor), _FLOOR_AT)
                if old_buckets != buckets:
                    self._resize(old_buckets, buckets, horizon, bytes(key), floor)
                return buckets, bytes(key), floor
        if size:
            # Not ours or damaged: starting empty opens a window for replays of recent requests, say so.
            log.warning("replay table %s was unreadable and has been recreated empty", self.path)
        key = os.urandom(16)
        self._write_empty(buckets, 0, key, floor_ms)
        log.info(
            "replay table %s created: %d entries, %d MiB allocated on disk (--replay-capacity, PYEHSM_REPLAY_CAPACITY)",
            self.path,
            buckets * SLOTS_PER_BUCKET,
            (DATA_OFFSET + buckets * BUCKET_BYTES) >> 20,
        )
        return buckets, key, floor_ms

    def _left_open_by_a_previous_boot(self) -> bool:
        """Under the lock: guards of another boot of the host had the table open and never closed it."""
        boot = os.pread(self._fd, 16, _BOOT_AT)
        opened = _U64.unpack(os.pread(self._fd, 8, _OPEN_AT))[0]
        return boot != bytes(16) and boot != self._boot_id and opened > 0

    def _register_open(self) -> None:
        """Under the lock: count this guard among those that have the table open in this boot."""
        same_boot = os.pread(self._fd, 16, _BOOT_AT) == self._boot_id
        opened = _U64.unpack(os.pread(self._fd, 8, _OPEN_AT))[0] if same_boot else 0
        os.pwrite(self._fd, self._boot_id + _U64.pack(opened + 1), _BOOT_AT)

    def _write_empty(self, buckets: int, horizon: int, key: bytes, floor_ms: int) -> None:
        os.ftruncate(self._fd, 0)
        size = DATA_OFFSET + buckets * BUCKET_BYTES
        os.ftruncate(self._fd, size)  # zeros: every slot empty
        # Reserve the blocks now: a write through the mapping to a hole on a full disk is a SIGBUS.
        try:
            os.posix_fallocate(self._fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it stays sparse
                raise
        os.pwrite(self._fd, _HEADER.pack(MAGIC, VERSION, SLOTS_PER_BUCKET, buckets, horizon, key, floor_ms), 0)

    def _resize(self, old_buckets: int, buckets: int, horizon: int, key: bytes, floor_ms: int) -> None:
        """A new capacity: carry every live entry over (rehashed from its tag) so no replay slips through."""
        now = self._clock.now_ms()
        live: list[tuple[int, int]] = []
        with mmap.mmap(self._fd, DATA_OFFSET + old_buckets * BUCKET_BYTES) as old:
            view = memoryview(old)[DATA_OFFSET:].cast("Q")
            try:
                live.extend((view[i], view[i + 1]) for i in range(0, len(view), 2) if view[i + 1] > now)
            finally:
                view.release()
        self._write_empty(buckets, horizon, key, floor_ms)
        mask = buckets - 1
        with mmap.mmap(self._fd, DATA_OFFSET + buckets * BUCKET_BYTES) as table:
            for tag, expires in live:
                if not _place(table, _buckets(tag, mask), tag, expires, now):
                    # a smaller table than its live entries: the rest keep their protection in SQLite
                    self.overflow.insert([(_tag_bytes(tag), now, expires)])
                    horizon = max(horizon, expires)
            _U64.pack_into(table, _OVERFLOW_AT, horizon)
        log.info(
            "replay table %s resized: %d -> %d buckets, %d live entries kept",
            self.path,
            old_buckets,
            buckets,
            len(live),
        )

    # -- the guard ------------------------------------------------------------------------------------------
    async def remember(self, appid: str, sign: str, now_ms: int, timestamp_ms: int | None = None) -> bool:
        if timestamp_ms is not None and timestamp_ms < _U64.unpack_from(self._map, _FLOOR_AT)[0]:
            self.refused["before_floor"] += 1
            return False  # older than the table: it cannot know whether this request was seen
        if self.remember_now(appid, sign, now_ms):
            return True
        self.refused["seen"] += 1
        return False

    def remember_now(self, appid: str, sign: str, now_ms: int) -> bool:
        """Record (appid, sign); False when it was already seen within the retention window.

        The common case (no overflow pending, a free slot) runs in C when the extension is built
        (_replay_probe.c: lock, lookup, insert, unlock in one call); whatever it leaves to the slow
        path, and everything without the extension, runs here."""
        digest = hashlib.blake2b(f"{appid}|{sign}".encode(), digest_size=_TAG_BYTES, key=self._key).digest()
        return self._remember_tag(int.from_bytes(digest, "little") or 1, now_ms)

    def _remember_tag(self, tag: int, now_ms: int) -> bool:
        """remember_now after hashing: the C fast path, then the slow path when it hands over."""
        buckets = _buckets(tag, self._mask)
        expires = now_ms + self.retention_ms
        probe = self._probe
        if probe is not None:
            outcome = probe.remember(self._map, self._fd, tag, buckets[0], buckets[1], now_ms, expires)
            if outcome != probe.SLOW_PATH:
                return bool(outcome == probe.PLACED)
        return self._remember_slow(tag, buckets, now_ms, expires)

    def _remember_slow(self, tag: int, buckets: tuple[int, int], now_ms: int, expires: int) -> bool:
        """remember_now in full, overflow included (the C fast path changed nothing before handing over)."""
        needle = _U64.pack(tag)
        table = self._map
        with self._locked():
            for bucket in buckets:  # seen: the tag at a slot boundary with an expiry still ahead
                found = table.find(needle, bucket, bucket + BUCKET_BYTES)
                while found != -1:
                    if (found - bucket) % 16 == 0 and _U64.unpack_from(table, found + 8)[0] > now_ms:
                        return False
                    found = table.find(needle, found + 1, bucket + BUCKET_BYTES)
            horizon = _U64.unpack_from(table, _OVERFLOW_AT)[0]
            if now_ms < horizon and self.overflow.contains(_tag_bytes(tag), now_ms):
                return False  # it overflowed to SQLite earlier and is still live there
            if _place(table, buckets, tag, expires, now_ms):
                return True
            # Both buckets are full of live entries: SQLite takes this one, and is asked about every
            # request until this entry expires.
            if expires > horizon:
                _U64.pack_into(table, _OVERFLOW_AT, expires)
            fresh = self.overflow.insert([(_tag_bytes(tag), now_ms, expires)])[0]
        self._count_overflow(now_ms)
        return fresh

    def _count_overflow(self, now_ms: int) -> None:
        """One more entry went to the overflow database: counted (pyehsm_replay_overflow_total) and said in
        the log, at most once a minute per process."""
        self.overflowed += 1
        if self._overflow_logged_ms is None or now_ms - self._overflow_logged_ms >= OVERFLOW_LOG_EVERY_MS:
            self._overflow_logged_ms = now_ms
            log.warning(
                "replay table %s is full (%d entries): %d requests of this process went to %s, which every "
                "request is now also checked against (slower; replays are still refused); raise "
                '--replay-capacity (docs/operations.md, "Replay table at its limit")',
                self.path,
                self.capacity,
                self.overflowed,
                self.overflow.path,
            )

    async def purge(self, now_ms: int) -> int:
        """Slots here are reused in place once expired; only the overflow table needs purging."""
        return await self.overflow.purge(now_ms)

    async def size(self, now_ms: int) -> int:
        """Live entries at ``now_ms``, every slot read (in C, in a thread: a 256 MiB table takes tens of
        milliseconds, which the event loop must not wait for), plus the overflow table's live rows."""
        count_live: Callable[[mmap.mmap, int], int] = self._probe.count_live if self._probe is not None else _count_live
        live = await asyncio.to_thread(count_live, self._map, now_ms)
        return live + await self.overflow.size(now_ms)

    async def close(self) -> None:
        """Flush the table to disk, then stop counting this guard among those that have it open: a host
        that goes down with no guard open cannot have lost entries."""
        self._map.flush()
        with self._locked():
            opened = _U64.unpack_from(self._map, _OPEN_AT)[0]
            _U64.pack_into(self._map, _OPEN_AT, max(0, opened - 1))
        self._map.flush()
        self._map.close()
        os.close(self._fd)
        await self.overflow.close()


def _count_live(table: mmap.mmap, now_ms: int) -> int:
    """The Python path's count_live (_replay_probe.c): slots whose expiry is after ``now_ms``, every one read."""
    slots = memoryview(table)[DATA_OFFSET:]
    slots = slots[: len(slots) - len(slots) % _SLOT.size].cast("B").cast("Q")
    try:
        return sum(1 for expires in slots[1::2] if expires > now_ms)
    finally:
        slots.release()


def _tag_bytes(tag: int) -> bytes:
    """The overflow table's key for a tag (the SQLite guard stores 16-byte fingerprints)."""
    return fingerprint("tag", str(tag))


def _place(table: mmap.mmap, buckets: tuple[int, int], tag: int, expires: int, now_ms: int) -> bool:
    """Write the entry into the bucket with fewer live entries (the first on a tie), in its slot that expired
    first; False when both are full of live entries. Choosing the emptier bucket keeps the table free of
    overflow to about 75 % full (first-bucket-first overflowed from about 40 %); _replay_probe.c does the same."""
    chosen: tuple[int, int] | None = None
    chosen_live = SLOTS_PER_BUCKET
    for bucket in buckets:
        expiries = _EXPIRIES.unpack_from(table, bucket)
        live = sum(1 for expiry in expiries if expiry > now_ms)
        if live < chosen_live:
            chosen, chosen_live = (bucket, expiries.index(min(expiries))), live
    if chosen is None:
        return False
    bucket, slot = chosen
    _SLOT.pack_into(table, bucket + slot * 16, tag, expires)
    return True


def _buckets(tag: int, mask: int) -> tuple[int, int]:
    """The byte offsets of the tag's two candidate buckets."""
    return DATA_OFFSET + (tag & mask) * BUCKET_BYTES, DATA_OFFSET + ((tag >> 32) & mask) * BUCKET_BYTES
