"""The keyring: the only place where plaintext key material exists.

The domain key (DK) wraps every CMK version's material and every apikey with AES-256-GCM; the AAD
binds each wrapped value to its owner, so swapping blobs between rows makes both unusable.
Unwrapped material is turned into primitives (ciphers, parsed private keys) once and kept in a
bounded LRU cache, evicted when a key is disabled or deleted.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.errors import InternalError

DK_BYTES = 32
_WRAP_VERSION = 1
_WRAP_HEADER = struct.Struct(">BI")  # format version, domain key id

T = TypeVar("T")


class UnwrapError(InternalError):
    """Stored material failed authentication (tampered row, swapped blob or unknown domain key)."""


@dataclass(frozen=True, slots=True)
class MaterialRef:
    """Who a piece of key material belongs to; bound into its wrapping AAD."""

    appid: str
    keyid: str
    version: int
    keyspec: str

    def aad(self) -> bytes:
        return f"pyehsm:cmk:v1|{self.appid}|{self.keyid}|{self.version}|{self.keyspec}".encode()


def apikey_aad(appid: str) -> bytes:
    return f"pyehsm:apikey:v1|{appid}".encode()


class PrimitiveCache:
    """Bounded LRU of key primitives keyed by (keyid, version); thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int]) -> object | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple[str, int], value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def evict_key(self, keyid: str) -> None:
        with self._lock:
            for cached in [k for k in self._items if k[0] == keyid]:
                del self._items[cached]

    def __len__(self) -> int:
        return len(self._items)


class Keyring:
    def __init__(self, domain_keys: dict[int, bytes], active_dk_id: int, cache_entries: int = 10_000) -> None:
        if active_dk_id not in domain_keys:
            raise ValueError("active domain key missing")
        self._dks = {dk_id: AESGCM(key) for dk_id, key in domain_keys.items()}
        self.active_dk_id = active_dk_id
        self.cache = PrimitiveCache(cache_entries)

    def __repr__(self) -> str:
        return f"<Keyring dk={self.active_dk_id} cached={len(self.cache)}>"

    def add_domain_key(self, dk_id: int, key: bytes, *, make_active: bool = False) -> None:
        self._dks[dk_id] = AESGCM(key)
        if make_active:
            self.active_dk_id = dk_id

    # -- wrapping -----------------------------------------------------------------------------
    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        head = _WRAP_HEADER.pack(_WRAP_VERSION, self.active_dk_id)
        nonce = os.urandom(12)
        return head + nonce + self._dks[self.active_dk_id].encrypt(nonce, plaintext, head + aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        if len(wrapped) < _WRAP_HEADER.size + 12 + 16:
            raise UnwrapError
        head = wrapped[: _WRAP_HEADER.size]
        version, dk_id = _WRAP_HEADER.unpack(head)
        dk = self._dks.get(dk_id)
        if version != _WRAP_VERSION or dk is None:
            raise UnwrapError
        body = wrapped[_WRAP_HEADER.size :]
        try:
            return dk.decrypt(body[:12], body[12:], head + aad)
        except InvalidTag:
            raise UnwrapError from None

    @staticmethod
    def wrapped_dk_id(wrapped: bytes) -> int:
        return int(_WRAP_HEADER.unpack(wrapped[: _WRAP_HEADER.size])[1])

    def wrap_material(self, ref: MaterialRef, material: bytes) -> bytes:
        return self.wrap(material, ref.aad())

    def unwrap_material(self, ref: MaterialRef, wrapped: bytes) -> bytes:
        return self.unwrap(wrapped, ref.aad())

    def wrap_apikey(self, appid: str, apikey: str) -> bytes:
        return self.wrap(apikey.encode(), apikey_aad(appid))

    def unwrap_apikey(self, appid: str, wrapped: bytes) -> str:
        return self.unwrap(wrapped, apikey_aad(appid)).decode()

    # -- primitives -------------------------------------------------------------------------------
    def primitive(self, ref: MaterialRef, wrapped: bytes, build: Callable[[bytes], T]) -> T:
        """The cached primitive for a key version, built from its unwrapped material on a miss."""
        cache_key = (ref.keyid, ref.version)
        cached = self.cache.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        primitive = build(self.unwrap_material(ref, wrapped))
        self.cache.put(cache_key, primitive)
        return primitive

    def forget(self, keyid: str) -> None:
        self.cache.evict_key(keyid)
