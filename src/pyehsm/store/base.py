"""The Store protocol: every persistent operation pyehsm performs. Implementations: sqlite, postgres.

Every method that touches tenant data takes the appid and filters by it.
"""

from __future__ import annotations

from typing import Protocol

from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord


class Store(Protocol):
    kind: str

    async def open(self) -> None:
        """Connect and apply pending migrations (under a lock)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # -- meta (wrapped domain keys, settings) ------------------------------------------------------
    async def get_meta(self, name: str) -> bytes | None: ...

    async def put_meta(self, name: str, value: bytes) -> None: ...

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless ``name`` exists; return what is stored (race-free)."""
        ...

    # -- apps --------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None: ...

    async def get_app(self, appid: str) -> AppRecord | None: ...

    # -- keys --------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None: ...

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None: ...

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None: ...

    async def list_keys(self, appid: str) -> list[KeyRecord]: ...

    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        """False when no such key for this app."""
        ...

    async def delete_key(self, appid: str, keyid: str) -> bool: ...

    async def delete_all_keys(self, appid: str) -> list[str]:
        """Delete every key of the app; return their keyids."""
        ...


class ReplayGuard(Protocol):
    async def remember(self, appid: str, sign: str, now_ms: int) -> bool:
        """Record (appid, sign); False when it was already seen within the retention window."""
        ...

    async def purge(self, now_ms: int) -> int: ...

    async def close(self) -> None: ...
