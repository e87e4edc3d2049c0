"""AES-GCM over bytes (key material and ciphertexts). Pure functions, no I/O."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16


class AuthenticationFailed(Exception):
    """The tag did not verify: wrong key, wrong aad or tampered data."""


def new_aesgcm(key: bytes) -> AESGCM:
    return AESGCM(key)


def seal(cipher: AESGCM, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> bytes:
    """nonce || ciphertext || tag, with a fresh random 96-bit nonce unless one is given (tests)."""
    iv = nonce if nonce is not None else os.urandom(GCM_NONCE_BYTES)
    return iv + cipher.encrypt(iv, plaintext, aad)


def open_sealed(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise AuthenticationFailed
    try:
        return cipher.decrypt(sealed[:GCM_NONCE_BYTES], sealed[GCM_NONCE_BYTES:], aad)
    except InvalidTag:
        raise AuthenticationFailed from None
