"""Bounds the store enforces itself; config.py imports them to validate settings (never the reverse)."""

from __future__ import annotations

MIN_REPLAY_CAPACITY = 8
MAX_REPLAY_CAPACITY = 1 << 34
"""The bounds of the mapped replay table's entries (--replay-capacity, PYEHSM_REPLAY_CAPACITY)."""

MAX_BULK_KEYS = 10_000
"""The most keys one Store.insert_keys call takes (one transaction; KeyService.create_many splits larger loads)."""

DEFAULT_CACHED_KEYS = 10_000
"""Keys a worker keeps, by default: parsed (keyring/keyring.py PrimitiveCache) and as rows (store/cache.py);
--key-cache-entries, PYEHSM_KEY_CACHE_ENTRIES (docs/operations.md, "Memory")."""
