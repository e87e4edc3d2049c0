"""Symmetric primitives behind one interface, obtained from the keyspec family (no switch elsewhere).

A SymmetricCipher is built once per key version from its raw material and cached by the keyring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pyehsm.crypto import aead, blob, sm4
from pyehsm.crypto.keyspecs import Family


class SymmetricCipher(Protocol):
    algorithm: blob.AlgorithmId

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes: ...

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        """Raises aead.AuthenticationFailed on any mismatch."""
        ...


class AesGcmCipher:
    algorithm = blob.AlgorithmId.AES_GCM

    def __init__(self, key: bytes) -> None:
        self._gcm = aead.new_aesgcm(key)

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes:
        return aead.seal(self._gcm, plaintext, header + aad)

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        return aead.open_sealed(self._gcm, body, header + aad)

    def __repr__(self) -> str:
        return "<AesGcmCipher>"


class Sm4Cipher:
    def __init__(self, key: bytes, *, cbc: bool) -> None:
        self._key = key
        self._cbc = cbc
        self.algorithm = blob.AlgorithmId.SM4_CBC_HMAC_SM3 if cbc else blob.AlgorithmId.SM4_CTR_HMAC_SM3

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes:
        return sm4.seal(self._key, plaintext, header, aad, cbc=self._cbc)

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        return sm4.open_sealed(self._key, body, header, aad, cbc=self._cbc)

    def __repr__(self) -> str:
        return "<Sm4Cipher>"


_FACTORIES: dict[Family, Callable[[bytes], SymmetricCipher]] = {
    Family.AES_GCM: AesGcmCipher,
    Family.SM4_CBC: lambda key: Sm4Cipher(key, cbc=True),
    Family.SM4_CTR: lambda key: Sm4Cipher(key, cbc=False),
}


def symmetric_cipher(family: Family, key: bytes) -> SymmetricCipher:
    return _FACTORIES[family](key)


def encrypt(cipher: SymmetricCipher, key_version: int, plaintext: bytes, bind: bytes, aad: bytes) -> bytes:
    """A complete blob. ``bind`` (the keyid) and ``aad`` are authenticated, not stored."""
    head = blob.header(cipher.algorithm, key_version)
    return head + cipher.seal(plaintext, head + bind, aad)


def decrypt(cipher: SymmetricCipher, parsed: blob.Blob, bind: bytes, aad: bytes) -> bytes:
    if parsed.algorithm is not cipher.algorithm:
        raise aead.AuthenticationFailed
    return cipher.open(parsed.body, parsed.header + bind, aad)
