"""The audit keys: Ed25519 signing keys (checkpoints) and the HMAC key (--audit-hash-names).

Both live in the store's meta table wrapped by the domain key, like the BYOK token key: a domain-key
rotation re-wraps them (keyring/rotation.py ``meta_wrapped``), a root-key rotation re-wraps only the
domain keys, so neither changes the audit public key. Signing keys form a series
``audit.signing-key.1, .2, ...``; ``audit.signing-key.active`` names the one new checkpoints use. Old
keys stay (wrapped), so a node can sign the hand-over record of a rotation it learns about late.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyehsm.errors import StartupError
from pyehsm.keyring.keyring import (
    AUDIT_HMAC_KEY_AAD,
    AUDIT_HMAC_KEY_META,
    Keyring,
    audit_signing_key_aad,
    audit_signing_key_meta,
)
from pyehsm.store.base import Store

ACTIVE_SIGNING_KEY = "audit.signing-key.active"
HMAC_KEY_BYTES = 32


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as operators pass it to `pyehsm audit verify --public-key`: base64 of the 32 raw bytes."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(public_text: str) -> str:
    """A short, stable name of a public key in checkpoint records: 16 hex digits of SHA-256."""
    return hashlib.sha256(public_text.encode()).hexdigest()[:16]


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 form (the output of `pyehsm audit public-key`) or a PEM file's text."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            key = load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise ValueError("not an Ed25519 public key (expected the output of `pyehsm audit public-key`)") from None


class SigningKey:
    """One audit signing key (its private half lives only in this process's memory)."""

    def __init__(self, number: int, private: Ed25519PrivateKey) -> None:
        self.number = number
        self._private = private
        self.public = public_key_text(private.public_key())
        self.id = key_id(self.public)

    def __repr__(self) -> str:
        return f"<SigningKey {self.number} id={self.id}>"

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode()


class AuditKeys:
    """The store's audit keys, unwrapped with the keyring; created on first use (insert-if-absent, so
    nodes starting together agree)."""

    def __init__(self, store: Store, keyring: Keyring) -> None:
        self._store = store
        self._keyring = keyring

    def __repr__(self) -> str:
        return "<AuditKeys>"

    async def active_number(self) -> int:
        raw = await self._store.get_meta(ACTIVE_SIGNING_KEY)
        if raw is None:
            await self._create(1)
            raw = await self._store.insert_meta_if_absent(ACTIVE_SIGNING_KEY, b"1")
        return int(raw.decode())

    async def signing_key(self, number: int | None = None) -> SigningKey:
        """Key ``number`` (default: the active one)."""
        if number is None:
            number = await self.active_number()
        wrapped = await self._store.get_meta(audit_signing_key_meta(number))
        if wrapped is None:
            raise StartupError(f"audit signing key {number} is missing from the store")
        raw = self._keyring.unwrap(wrapped, audit_signing_key_aad(number))
        return SigningKey(number, Ed25519PrivateKey.from_private_bytes(raw))

    async def by_id(self, wanted: str) -> SigningKey | None:
        """The signing key whose public key id is ``wanted`` (a chain signed by an older key)."""
        number = 1
        while await self._store.get_meta(audit_signing_key_meta(number)) is not None:
            key = await self.signing_key(number)
            if key.id == wanted:
                return key
            number += 1
        return None

    async def rotate(self) -> SigningKey:
        """Create the next signing key and make it active (compare-and-swap); the running nodes record
        the hand-over in their chains, signed by the old key."""
        current = await self.active_number()
        new = current + 1
        while await self._store.get_meta(audit_signing_key_meta(new)) is not None:
            new += 1
        await self._create(new)
        swapped = await self._store.replace_meta(
            {ACTIVE_SIGNING_KEY: str(current).encode()}, {ACTIVE_SIGNING_KEY: str(new).encode()}
        )
        if not swapped:
            raise StartupError("the audit signing key changed at the same time; run the rotation again")
        return await self.signing_key(new)

    async def hmac_key(self) -> bytes:
        stored = await self._store.get_meta(AUDIT_HMAC_KEY_META)
        if stored is None:
            candidate = self._keyring.wrap(os.urandom(HMAC_KEY_BYTES), AUDIT_HMAC_KEY_AAD)
            stored = await self._store.insert_meta_if_absent(AUDIT_HMAC_KEY_META, candidate)
        return self._keyring.unwrap(stored, AUDIT_HMAC_KEY_AAD)

    async def _create(self, number: int) -> None:
        raw = Ed25519PrivateKey.generate().private_bytes_raw()
        await self._store.insert_meta_if_absent(
            audit_signing_key_meta(number), self._keyring.wrap(raw, audit_signing_key_aad(number))
        )


def name_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the audit HMAC key, as recorded under --audit-hash-names."""
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
