"""Asymmetric actions: GetPublicKey, AsymmetricEncrypt/Decrypt, Sign/Verify (RSA, ECDSA, SM2, HMAC) and
ExportDataKey.

Every operation resolves the caller's key through KeyService (tenancy, state, keyspec and usage rules)
and takes its parsed key from the keyring's primitive cache; the family-specific rules live in
:mod:`pyehsm.crypto.asymmetric`. Parsing a 4096-bit RSA key with validation takes up to 250 ms and
happens once per key version and process (again after a disable/enable or a cache eviction).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial

from pyehsm.crypto import asymmetric
from pyehsm.crypto.keyspecs import KeySpec, Operation
from pyehsm.errors import CryptoError, InternalError, ParamError
from pyehsm.services.crypto import SymmetricService
from pyehsm.services.keys import KeyService

DECRYPT_FAILED = "Decrypt failed: the ciphertext was not made with this key's public key, or it was modified."
DEFAULT_EXPORT_PADDING = "EH_RSA_PKCS1_OAEP"  # PROTOCOL.md: ExportDataKey default for RSA (SM2 ignores it)


@contextlib.contextmanager
def _wire_errors(field: str) -> Iterator[None]:
    """Map the crypto layer's errors to wire errors; ``field`` names the encrypted input."""
    try:
        yield
    except asymmetric.InvalidParameter as exc:
        raise ParamError(exc.message) from None
    except asymmetric.PlaintextTooLong as exc:
        raise ParamError(f"Parameter invalid, The {field} length error: {exc}.") from None
    except asymmetric.DecryptionFailed:
        raise CryptoError(DECRYPT_FAILED) from None


class AsymmetricService:
    def __init__(self, keys: KeyService, symmetric: SymmetricService) -> None:
        self._keys = keys
        self._symmetric = symmetric

    def __repr__(self) -> str:
        return "<AsymmetricService>"

    async def _key(self, appid: str, keyid: str, op: Operation) -> tuple[asymmetric.KeyPrimitive, KeySpec]:
        record, spec = await self._keys.resolve(appid, keyid, op)
        try:
            key = await self._keys.primitive(record, record.primary_version, partial(asymmetric.load_key, spec))
        except asymmetric.KeyMaterialError:
            raise InternalError from None
        return key, spec

    async def get_public_key(self, appid: str, keyid: str) -> str:
        key, _ = await self._key(appid, keyid, Operation.PUBLIC_KEY)
        with _wire_errors("keyid"):
            return key.public_pem()

    async def encrypt(self, appid: str, keyid: str, plaintext: bytes, padding: str | None) -> bytes:
        key, _ = await self._key(appid, keyid, Operation.ASYMMETRIC_ENCRYPT)
        with _wire_errors("plaintext"):
            return key.encrypt(plaintext, padding)

    async def decrypt(self, appid: str, keyid: str, ciphertext: bytes, padding: str | None) -> bytes:
        key, _ = await self._key(appid, keyid, Operation.ASYMMETRIC_ENCRYPT)
        with _wire_errors("ciphertext"):
            return key.decrypt(ciphertext, padding)

    async def sign(
        self, appid: str, keyid: str, message: bytes, message_type: str, digest: str | None, padding: str | None
    ) -> bytes:
        key, spec = await self._key(appid, keyid, Operation.SIGN)
        with _wire_errors("message"):
            return key.sign(
                message,
                digest=digest or spec.default_digest,
                prehashed=asymmetric.MESSAGE_TYPE_PREHASHED[message_type],
                padding=padding,
            )

    async def verify(
        self,
        appid: str,
        keyid: str,
        message: bytes,
        signature: bytes,
        message_type: str,
        digest: str | None,
        padding: str | None,
    ) -> bool:
        key, spec = await self._key(appid, keyid, Operation.SIGN)
        with _wire_errors("message"):
            return key.verify(
                signature,
                message,
                digest=digest or spec.default_digest,
                prehashed=asymmetric.MESSAGE_TYPE_PREHASHED[message_type],
                padding=padding,
            )

    async def export_data_key(
        self, appid: str, keyid: str, ukeyid: str, old_data_key: bytes, aad: bytes, padding: str | None
    ) -> bytes:
        """The data key inside ``old_data_key`` (a ciphertext under the symmetric ``keyid`` and ``aad``),
        encrypted under the public key of the asymmetric ``ukeyid``."""
        ukey, _ = await self._key(appid, ukeyid, Operation.ASYMMETRIC_ENCRYPT)
        data_key = await self._symmetric.decrypt(appid, keyid, old_data_key, aad)
        with _wire_errors("data key"):
            return ukey.encrypt(data_key, padding or DEFAULT_EXPORT_PADDING)
