"""Type stub of the C extension _replay_probe.c (the replay table's hot path)."""

import mmap

SEEN: int
PLACED: int
SLOW_PATH: int
DATA_OFFSET: int  # the table layout it assumes (mapped_replay.py's, checked by a test)
BUCKET_BYTES: int
OVERFLOW_AT: int
STRIPES: int

def remember(
    table: mmap.mmap, fd: int, tag: int, bucket1: int, bucket2: int, now_ms: int, expires_ms: int, /
) -> int: ...
def count_live(table: mmap.mmap, now_ms: int, /) -> int: ...
def lock_table(fd: int, /) -> None: ...
def unlock_table(fd: int, /) -> None: ...
