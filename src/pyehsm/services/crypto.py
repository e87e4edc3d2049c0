"""Symmetric Encrypt/Decrypt and data keys (GenerateDataKey, GenerateDataKeyWithoutPlaintext)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from functools import partial

from pyehsm.crypto import symmetric
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.crypto.blob import BlobFormatError, unpack
from pyehsm.crypto.keyspecs import Family, Operation
from pyehsm.errors import DecryptionFailed, InvalidCiphertext, KeyVersionNotFound
from pyehsm.services.keys import KeyService

# The cipher builder of each family, made once (a cache hit never calls it).
_BUILDERS: dict[Family, Callable[[bytes], symmetric.SymmetricCipher]] = {
    family: partial(symmetric.symmetric_cipher, family) for family in Family
}


@functools.lru_cache(maxsize=65536)
def _bind(keyid: str) -> bytes:
    """The keyid as 16 bytes, authenticated with every ciphertext so it only decrypts under its key."""
    return uuid.UUID(keyid).bytes


class SymmetricService:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "<SymmetricService>"

    async def encrypt(self, appid: str, keyid: str, plaintext: bytes, aad: bytes) -> bytes:
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        record, spec = resolved if resolved is not None else await self._keys.resolve(appid, keyid, Operation.ENCRYPT)
        version = record.primary_version
        cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
        if cipher is None:
            cipher = await self._keys.load_primitive(record, version, _BUILDERS[spec.family])
        return symmetric.encrypt(cipher, version, plaintext, _bind(keyid), aad)

    async def encrypter(self, appid: str, keyid: str) -> Callable[[bytes, bytes], bytes]:
        """``encrypt`` split in two: resolve the key now (its errors are raised here), and return a
        function (plaintext, aad) -> ciphertext that only computes (for use under a store lock)."""
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        record, spec = resolved if resolved is not None else await self._keys.resolve(appid, keyid, Operation.ENCRYPT)
        version = record.primary_version
        cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
        if cipher is None:
            cipher = await self._keys.load_primitive(record, version, _BUILDERS[spec.family])
        bound, bind = cipher, _bind(keyid)
        return lambda plaintext, aad: symmetric.encrypt(bound, version, plaintext, bind, aad)

    async def decrypt(self, appid: str, keyid: str, ciphertext: bytes, aad: bytes) -> bytes:
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        record, spec = resolved if resolved is not None else await self._keys.resolve(appid, keyid, Operation.ENCRYPT)
        try:
            parsed = unpack(ciphertext)
        except BlobFormatError:
            raise InvalidCiphertext from None
        version = parsed.key_version
        try:
            cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
            if cipher is None:
                cipher = await self._keys.load_primitive(record, version, _BUILDERS[spec.family])
            return symmetric.decrypt(cipher, parsed, _bind(keyid), aad)
        except (AuthenticationFailed, KeyVersionNotFound):
            raise DecryptionFailed("symmetric") from None

    async def generate_data_key(self, appid: str, keyid: str, keylen: int, aad: bytes) -> tuple[bytes, bytes]:
        """(plaintext data key, its ciphertext under the CMK)."""
        data_key = os.urandom(keylen)
        return data_key, await self.encrypt(appid, keyid, data_key, aad)
