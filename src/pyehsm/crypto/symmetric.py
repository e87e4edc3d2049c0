"""The pyehsm ciphertext blob around a symmetric family's cipher (Encrypt/Decrypt and data keys).

A :class:`~pyehsm.crypto.family.SymmetricCipher` is built once per key version by its keyspec's family
(``KeySpec.load``; AES-GCM in :mod:`pyehsm.crypto.aes_gcm`, SM4 in :mod:`pyehsm.crypto.sm4`) and cached
by the keyring; this module frames its output.
"""

from __future__ import annotations

from pyehsm.crypto import aead, blob
from pyehsm.crypto.aes_gcm import AesGcmCipher
from pyehsm.crypto.family import KeyFamily, SymmetricCipher, SymmetricFamily
from pyehsm.crypto.sm4 import Sm4Cipher

__all__ = ["AesGcmCipher", "Sm4Cipher", "SymmetricCipher", "decrypt", "encrypt", "symmetric_cipher"]


def symmetric_cipher(family: KeyFamily, key: bytes) -> SymmetricCipher:
    """The cipher of a symmetric family over raw ``key`` bytes; TypeError for a family without one."""
    if not isinstance(family, SymmetricFamily):
        raise TypeError(f"{family.name} keys have no symmetric cipher")
    return family.cipher(key)


def encrypt(cipher: SymmetricCipher, key_version: int, plaintext: bytes, bind: bytes, aad: bytes) -> bytes:
    """A complete blob. ``bind`` (the keyid) and ``aad`` are authenticated, not stored."""
    head = blob.header(cipher.algorithm, key_version)
    return head + cipher.seal(plaintext, head + bind, aad)


def decrypt(cipher: SymmetricCipher, parsed: blob.Blob, bind: bytes, aad: bytes) -> bytes:
    if parsed.algorithm is not cipher.algorithm:
        raise aead.AuthenticationFailed
    return cipher.open(parsed.body, parsed.header + bind, aad)
