"""Plain records the store reads and writes. Wrapped blobs only; never plaintext material."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class KeyState(enum.Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_IMPORT = "pending_import"


@dataclass(frozen=True, slots=True)
class AppRecord:
    appid: str
    wrapped_apikey: bytes
    created_ms: int


@dataclass(frozen=True, slots=True)
class KeyRecord:
    appid: str
    keyid: str
    keyspec: str
    origin: str
    keyusage: str
    state: KeyState
    alias: str
    created_ms: int
    expire_ms: int
    primary_version: int


@dataclass(frozen=True, slots=True)
class KeyVersionRecord:
    keyid: str
    version: int
    wrapped_material: bytes | None  # None while an external key waits for its material
    created_ms: int
