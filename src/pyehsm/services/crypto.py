"""Symmetric Encrypt/Decrypt and data keys (GenerateDataKey, GenerateDataKeyWithoutPlaintext)."""

from __future__ import annotations

import functools
import os
import uuid
from functools import partial

from pyehsm.crypto import symmetric
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.crypto.blob import BlobFormatError, unpack
from pyehsm.crypto.keyspecs import KeySpec, Operation
from pyehsm.errors import CryptoError, NotFoundError
from pyehsm.services.keys import KeyService
from pyehsm.store.records import KeyRecord

DECRYPT_FAILED = "Decrypt failed: the ciphertext was not made with this key, was modified, or the aad does not match."
BAD_BLOB = "Parameter invalid, The ciphertext is not a pyehsm ciphertext."


@functools.lru_cache(maxsize=65536)
def _bind(keyid: str) -> bytes:
    """The keyid as 16 bytes, authenticated with every ciphertext so it only decrypts under its key."""
    return uuid.UUID(keyid).bytes


class SymmetricService:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "<SymmetricService>"

    async def _cipher(self, record: KeyRecord, spec: KeySpec, version: int) -> symmetric.SymmetricCipher:
        return await self._keys.primitive(record, version, partial(symmetric.symmetric_cipher, spec.family))

    async def encrypt(self, appid: str, keyid: str, plaintext: bytes, aad: bytes) -> bytes:
        record, spec = await self._keys.resolve(appid, keyid, Operation.ENCRYPT)
        version = record.primary_version
        cipher = await self._cipher(record, spec, version)
        return symmetric.encrypt(cipher, version, plaintext, _bind(keyid), aad)

    async def decrypt(self, appid: str, keyid: str, ciphertext: bytes, aad: bytes) -> bytes:
        record, spec = await self._keys.resolve(appid, keyid, Operation.ENCRYPT)
        try:
            parsed = unpack(ciphertext)
        except BlobFormatError:
            raise CryptoError(BAD_BLOB) from None
        try:
            cipher = await self._cipher(record, spec, parsed.key_version)
            return symmetric.decrypt(cipher, parsed, _bind(keyid), aad)
        except (AuthenticationFailed, NotFoundError):
            raise CryptoError(DECRYPT_FAILED) from None

    async def generate_data_key(self, appid: str, keyid: str, keylen: int, aad: bytes) -> tuple[bytes, bytes]:
        """(plaintext data key, its ciphertext under the CMK)."""
        data_key = os.urandom(keylen)
        return data_key, await self.encrypt(appid, keyid, data_key, aad)
