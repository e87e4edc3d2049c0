"""The keyring: the only place where plaintext key material exists.

The domain key (DK) wraps every CMK version's material and every apikey with AES-256-GCM; the AAD
binds each wrapped value to its owner, so swapping blobs between rows makes both unusable.
Unwrapped material is turned into primitives (ciphers, parsed private keys) once and kept in a
bounded LRU cache, evicted when a key is disabled or deleted.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.errors import InternalFailure

DK_BYTES = 32
_WRAP_VERSION = 1
_WRAP_HEADER = struct.Struct(">BI")  # format version, domain key id

T = TypeVar("T")

log = logging.getLogger(__name__)


class UnwrapError(InternalFailure):
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


def secrets_key_aad(appid: str, keyid: str) -> bytes:
    """AAD of an app's default secrets key (secret_keys.wrapped_material; services/secrets.py uses the same)."""
    return f"pyehsm:secrets-key:v1|{appid}|{keyid}".encode()


def import_key_aad(appid: str, keyid: str, token_id: str, wrapping_keyspec: str) -> bytes:
    """AAD of a BYOK wrapping key's private half (import_tokens.wrapped_private_key; services/byok.py)."""
    return f"pyehsm:import-key:v1|{appid}|{keyid}|{token_id}|{wrapping_keyspec}".encode()


BYOK_TOKEN_KEY_META = "byok.token-key"
BYOK_TOKEN_KEY_AAD = b"pyehsm:byok-token-key:v1"  # the import-token MAC key, kept DK-wrapped in meta
AUDIT_HMAC_KEY_META = "audit.hmac-key"
AUDIT_HMAC_KEY_AAD = b"pyehsm:audit-hmac-key:v1"  # the audit HMAC key (--audit-hash-names), DK-wrapped in meta


def audit_signing_key_meta(n: int) -> str:
    """Meta name of audit signing key ``n`` (1, 2, ...: every key ever used stays, DK-wrapped; pyehsm/audit)."""
    return f"audit.signing-key.{n}"


def audit_signing_key_aad(n: int) -> bytes:
    return f"pyehsm:audit-signing-key:v1|{n}".encode()


DomainKeyLoader = Callable[[int], bytes | None]
"""Fetches and unwraps (with the root key) a domain key this process has not loaded; None if unknown."""


class PrimitiveCache:
    """Bounded LRU of key primitives keyed by (keyid, version); thread-safe.

    ``get`` runs on every request and takes no lock (a lock costs about as much as the lookup): each
    OrderedDict call is atomic under the GIL, and a ``put`` on another thread that evicts the entry between
    the lookup and the move to the end only makes the move a no-op. ``put`` and ``evict_key`` hold the lock
    and never iterate the live dict, so a concurrent ``get`` cannot break them either. The hit and miss
    counters (metrics) are exact while gets come from one thread, the event loop's, as they do.
    """

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int]) -> object | None:
        items = self._items
        item = items.get(key)
        if item is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per request
            items.move_to_end(key)
        except KeyError:  # evicted by another thread's put() just now; the primitive is still good
            pass
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
            for cached in [k for k in list(self._items) if k[0] == keyid]:  # list(): one atomic snapshot
                self._items.pop(cached, None)

    def __len__(self) -> int:
        return len(self._items)


class Keyring:
    def __init__(
        self,
        domain_keys: dict[int, bytes],
        active_dk_id: int,
        cache_entries: int = 10_000,
        dk_loader: DomainKeyLoader | None = None,
    ) -> None:
        """``dk_loader`` is asked for a domain key named by a wrapped value but not loaded yet (another
        node rotated the domain key); keyring/domain.py builds it from the store and the root key."""
        if active_dk_id not in domain_keys:
            raise ValueError("active domain key missing")
        self._dks = {dk_id: AESGCM(key) for dk_id, key in domain_keys.items()}
        self.active_dk_id = active_dk_id
        self.cache = PrimitiveCache(cache_entries)
        self._dk_loader = dk_loader
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Keyring dk={self.active_dk_id} cached={len(self.cache)}>"

    def add_domain_key(self, dk_id: int, key: bytes, *, make_active: bool = False) -> None:
        """Load a domain key (the cipher is built before it can become active: wrap never sees a gap)."""
        self._dks[dk_id] = AESGCM(key)
        if make_active:
            self.active_dk_id = dk_id

    def activate(self, dk_id: int) -> None:
        """Wrap new values under the loaded domain key ``dk_id`` from now on."""
        if dk_id not in self._dks:
            raise ValueError("domain key not loaded")
        self.active_dk_id = dk_id

    def domain_key_ids(self) -> list[int]:
        return sorted(self._dks)

    def _domain_key(self, dk_id: int) -> AESGCM | None:
        dk = self._dks.get(dk_id)
        if dk is not None or self._dk_loader is None or dk_id <= 0:
            return dk
        with self._load_lock:
            dk = self._dks.get(dk_id)
            if dk is None:
                key = self._dk_loader(dk_id)
                if key is not None:
                    self.add_domain_key(dk_id, key)
                    dk = self._dks[dk_id]
        return dk

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
        dk = self._domain_key(dk_id) if version == _WRAP_VERSION else None
        if dk is None:
            raise UnwrapError
        body = wrapped[_WRAP_HEADER.size :]
        try:
            return dk.decrypt(body[:12], body[12:], head + aad)
        except InvalidTag:
            raise UnwrapError from None

    @staticmethod
    def wrapped_dk_id(wrapped: bytes) -> int:
        return int(_WRAP_HEADER.unpack(wrapped[: _WRAP_HEADER.size])[1])

    @staticmethod
    def dk_id_prefix(dk_id: int) -> bytes:
        """The first bytes of every value wrapped under ``dk_id`` (stores compare them to find old rows)."""
        return _WRAP_HEADER.pack(_WRAP_VERSION, dk_id)

    def rewrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """The same plaintext wrapped again under the active domain key (the plaintext never leaves)."""
        return self.wrap(self.unwrap(wrapped, aad), aad)

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
        cached = self.cache.get((ref.keyid, ref.version))
        if cached is not None:
            return cached  # type: ignore[return-value]
        return self.build_primitive(ref, wrapped, build)

    def build_primitive(self, ref: MaterialRef, wrapped: bytes, build: Callable[[bytes], T]) -> T:
        """Unwrap, build and cache a key version's primitive (callers looked in the cache already)."""
        return self.build_cached(
            (ref.keyid, ref.version),
            wrapped,
            ref.aad(),
            build,
            f"key material of keyid {ref.keyid} version {ref.version}",
        )

    def build_cached(
        self, cache_key: tuple[str, int], wrapped: bytes, aad: bytes, build: Callable[[bytes], T], what: str
    ) -> T:
        """Unwrap ``wrapped`` (bound to ``aad``), build the primitive and cache it under ``cache_key``.

        ``what`` names the value in the log line written when the stored value fails authentication.
        """
        try:
            material = self.unwrap(wrapped, aad)
        except UnwrapError:
            log.error(
                "stored %s failed authentication "
                "(row tampered with, swapped with another key's, or wrapped under an unknown domain key)",
                what,
            )
            raise
        primitive = build(material)
        del material
        self.cache.put(cache_key, primitive)
        return primitive

    def forget(self, keyid: str) -> None:
        self.cache.evict_key(keyid)
