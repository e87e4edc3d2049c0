"""Symmetric Encrypt/Decrypt and data keys (GenerateDataKey, GenerateDataKeyWithoutPlaintext).

Encrypt uses the key's primary version and writes it into the blob header; Decrypt uses the version the blob
names, unless that version is below the key's minimum decryption version (KeyVersionRetired). Either way the
version's primitive comes from the keyring's cache, or is unwrapped from that version's stored material
(``KeyService.load_primitive``) and built by the keyspec's family (``KeySpec.load``).

Decrypt and the data keys with plaintext refuse a key with a release policy unless given the request's
``ReleaseGrant`` (services/release_grant.py); GenerateDataKeyWithoutPlaintext (``wrapped_data_key``) releases
nothing and is never gated.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from pyehsm.crypto import symmetric
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.crypto.blob import BlobFormatError, split_keyed, unpack
from pyehsm.crypto.blob import keyed as keyed_blob
from pyehsm.crypto.keyspecs import KeySpec, Operation
from pyehsm.errors import (
    CiphertextKeyMismatch,
    DecryptionFailed,
    InvalidCiphertext,
    KeyVersionNotFound,
    KeyVersionRetired,
    MissingParameter,
)
from pyehsm.services.keys import KeyService
from pyehsm.services.release_grant import ReleaseGrant, require_key_release
from pyehsm.store.records import KeyRecord


def _cipher_of(spec: KeySpec) -> Callable[[bytes], symmetric.SymmetricCipher]:
    """How ``spec``'s family builds the cipher of one key version (called after a primitive-cache miss)."""
    return spec.load


def _bind(keyid: str) -> bytes:
    """The keyid as 16 bytes, authenticated with every ciphertext so it only decrypts under its key.

    A canonical UUID (every stored keyid) is read by bytes.fromhex, which is uuid.UUID's answer at a tenth of
    its cost (an LRU of these missed on every request over more keys than it held); any other form by uuid."""
    if len(keyid) == 36:
        try:
            raw = bytes.fromhex(keyid.replace("-", ""))
        except ValueError:
            raw = b""
        if len(raw) == 16 and keyid[8] == keyid[13] == keyid[18] == keyid[23] == "-":
            return raw
    return uuid.UUID(keyid).bytes


class SymmetricService:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "<SymmetricService>"

    async def resolve(self, appid: str, keyid: str) -> tuple[KeyRecord, KeySpec]:
        """The caller's key, checked usable for Encrypt/Decrypt (its domain error otherwise); what
        ``encrypt_with`` / ``decrypt_with`` take, so a batch looks each key up once (services/batch.py)."""
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        if resolved is not None:
            return resolved
        # A row-cache miss: one store read brings the primary version's material too, and its cipher is
        # cached, so ``encrypt_with`` (and a Decrypt under the primary) finds it.
        record, spec, _ = await self._keys.resolve_loaded(appid, keyid, Operation.ENCRYPT, _cipher_of)
        return record, spec

    async def encrypt(self, appid: str, keyid: str, plaintext: bytes, aad: bytes) -> bytes:
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        if resolved is None:
            record, _, cipher = await self._keys.resolve_loaded(appid, keyid, Operation.ENCRYPT, _cipher_of)
            return symmetric.encrypt(cipher, record.primary_version, plaintext, _bind(record.keyid), aad)
        return await self.encrypt_with(*resolved, plaintext, aad)

    async def encrypt_with(self, record: KeyRecord, spec: KeySpec, plaintext: bytes, aad: bytes) -> bytes:
        """``encrypt`` with a key already resolved (``resolve``): the primary version's cipher."""
        version = record.primary_version
        cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
        if cipher is None:
            cipher = await self._keys.load_primitive(record, version, _cipher_of(spec))
        return symmetric.encrypt(cipher, version, plaintext, _bind(record.keyid), aad)

    async def encrypter(self, appid: str, keyid: str, *, keyed: bool = False) -> Callable[[bytes, bytes], bytes]:
        """``encrypt`` split in two: resolve the key now (its errors are raised here), and return a
        function (plaintext, aad) -> ciphertext that only computes (for use under a store lock); the
        ciphertexts are in the keyed form when ``keyed``."""
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        record, spec = resolved if resolved is not None else await self.resolve(appid, keyid)
        version = record.primary_version
        cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
        if cipher is None:
            cipher = await self._keys.load_primitive(record, version, _cipher_of(spec))
        bound, bind = cipher, _bind(record.keyid)
        if keyed:
            return lambda plaintext, aad: keyed_blob(bind, symmetric.encrypt(bound, version, plaintext, bind, aad))
        return lambda plaintext, aad: symmetric.encrypt(bound, version, plaintext, bind, aad)

    @staticmethod
    def named_key(ciphertext: bytes) -> str | None:
        """The key id a keyed ciphertext names (docs/ciphertext-format.md); None for a plain one."""
        named, _ = split_keyed(ciphertext)
        return None if named is None else str(uuid.UUID(bytes=named))

    async def encrypt_keyed(self, appid: str, keyid: str, plaintext: bytes, aad: bytes) -> bytes:
        """``encrypt`` in the keyed form: the blob names its key (docs/ciphertext-format.md)."""
        return keyed_blob(_bind(keyid), await self.encrypt(appid, keyid, plaintext, aad))

    async def decrypt_keyed(
        self, appid: str, ciphertext: bytes, aad: bytes, grant: ReleaseGrant | None = None
    ) -> tuple[str, bytes]:
        """(key id, plaintext) of a keyed ciphertext, under the key it names. A pyehsm ciphertext that names no
        key needs its key named (MissingParameter); bytes that are no pyehsm ciphertext: InvalidCiphertext."""
        named, _ = split_keyed(ciphertext)
        if named is None:
            try:
                unpack(ciphertext)
            except BlobFormatError:
                raise InvalidCiphertext from None
            raise MissingParameter("KeyId")
        keyid = str(uuid.UUID(bytes=named))
        return keyid, await self.decrypt(appid, keyid, ciphertext, aad, grant)

    async def decrypt(
        self, appid: str, keyid: str, ciphertext: bytes, aad: bytes, grant: ReleaseGrant | None = None
    ) -> bytes:
        """Plain or keyed ciphertexts; a keyed one must name ``keyid``."""
        named, ciphertext = split_keyed(ciphertext)
        if named is not None and str(uuid.UUID(bytes=named)) != keyid:
            raise CiphertextKeyMismatch(keyid)
        resolved = self._keys.resolve_cached(appid, keyid, Operation.ENCRYPT)
        record, spec = resolved if resolved is not None else await self.resolve(appid, keyid)
        return await self.decrypt_with(record, spec, ciphertext, aad, grant)

    async def decrypt_with(
        self, record: KeyRecord, spec: KeySpec, ciphertext: bytes, aad: bytes, grant: ReleaseGrant | None = None
    ) -> bytes:
        """``decrypt`` with a key already resolved (``resolve``): the version the ciphertext names."""
        require_key_release(record, grant)
        try:
            parsed = unpack(ciphertext)
        except BlobFormatError:
            raise InvalidCiphertext from None
        version = parsed.key_version
        if version < record.min_decryption_version:  # retired on purpose (UpdateKeyVersionPolicy); material kept
            raise KeyVersionRetired(record.keyid, version, record.min_decryption_version)
        try:
            cipher: symmetric.SymmetricCipher | None = self._keys.cached_primitive(record, version)
            if cipher is None:
                cipher = await self._keys.load_primitive(record, version, _cipher_of(spec))
            return symmetric.decrypt(cipher, parsed, _bind(record.keyid), aad)
        except (AuthenticationFailed, KeyVersionNotFound):
            raise DecryptionFailed("symmetric") from None

    async def generate_data_key(
        self,
        appid: str,
        keyid: str,
        keylen: int,
        aad: bytes,
        *,
        keyed: bool = False,
        grant: ReleaseGrant | None = None,
    ) -> tuple[bytes, bytes]:
        """(plaintext data key, its ciphertext under the CMK; in the keyed form when ``keyed``)."""
        record, spec = await self.resolve(appid, keyid)
        data_key, ciphertext = await self.generate_data_key_with(record, spec, keylen, aad, grant)
        return data_key, keyed_form(record.keyid, ciphertext) if keyed else ciphertext

    async def generate_data_key_with(
        self, record: KeyRecord, spec: KeySpec, keylen: int, aad: bytes, grant: ReleaseGrant | None = None
    ) -> tuple[bytes, bytes]:
        """``generate_data_key`` with a key already resolved (``resolve``)."""
        require_key_release(record, grant)
        data_key = os.urandom(keylen)
        return data_key, await self.encrypt_with(record, spec, data_key, aad)

    async def wrapped_data_key(self, appid: str, keyid: str, keylen: int, aad: bytes, *, keyed: bool = False) -> bytes:
        """GenerateDataKeyWithoutPlaintext: a fresh data key's ciphertext only (never gated: no plaintext leaves)."""
        record, spec = await self.resolve(appid, keyid)
        data_key = os.urandom(keylen)
        try:
            ciphertext = await self.encrypt_with(record, spec, data_key, aad)
        finally:
            del data_key
        return keyed_form(record.keyid, ciphertext) if keyed else ciphertext


def keyed_form(keyid: str, ciphertext: bytes) -> bytes:
    """A ciphertext in the keyed form: it names its key (docs/ciphertext-format.md)."""
    return keyed_blob(_bind(keyid), ciphertext)
