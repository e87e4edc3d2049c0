"""The HMAC key family (EH_HMAC): GenerateMac and VerifyMac, and Sign and Verify (the signature being the
full-length MAC of the message).

Sign/Verify accept any EH_* digest; EH_DIGEST is refused (HMAC has no meaningful digest input); padding is
ignored. GenerateMac/VerifyMac take a macAlgorithm (``MAC_ALGORITHMS``: HMAC_SHA_224/256/384/512, HMAC_SM3).
Only full-length MACs are made and accepted (a truncated MAC never verifies). Every comparison is constant time.

Keys are 32 random bytes when generated and 14 to 128 bytes when imported: 112 bits is the least key
strength NIST SP 800-131A allows for HMAC, and 128 bytes is the block size of SHA-384/512 (a longer key is
hashed down first, so it adds nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hmac

from pyehsm.crypto.family import (
    HASHES,
    MAC_ALGORITHMS,
    KeyMaterialError,
    KeyUsage,
    Operation,
    RawKeyFamily,
    check_digest,
    no_encryption,
)
from pyehsm.errors import MessageTypeNotAllowed, NoPublicKey

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec


class HmacKey:
    family = "HMAC"
    digests = frozenset(HASHES)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise KeyMaterialError
        self._key = bytes(key)
        self.key_bytes = len(key)  # the AWS door names the key's HMAC_* spec after it (docs/aws-kms.md)

    def _mac(self, message: bytes, digest: str, prehashed: bool) -> hmac.HMAC:
        if prehashed:
            raise MessageTypeNotAllowed("EH_DIGEST", self.family)
        mac = hmac.HMAC(self._key, check_digest(self.family, self.digests, digest, False, message))
        mac.update(message)
        return mac

    def public_pem(self) -> str:
        raise NoPublicKey(self.family)

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        return self._mac(message, digest, prehashed).finalize()

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        mac = self._mac(message, digest, prehashed)
        try:
            mac.verify(signature)  # constant time
        except InvalidSignature:
            return False
        return True

    def generate_mac(self, message: bytes, algorithm: str) -> bytes:
        return self._mac(message, MAC_ALGORITHMS[algorithm], False).finalize()

    def verify_mac(self, message: bytes, algorithm: str, mac: bytes) -> bool:
        return self.verify(mac, message, digest=MAC_ALGORITHMS[algorithm], prehashed=False, padding=None)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __repr__(self) -> str:
        return "<HmacKey>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("HMAC keys cannot be pickled")


class HmacFamily(RawKeyFamily):
    name = "HMAC"
    operations = frozenset({Operation.SIGN, Operation.GENERATE_MAC, Operation.VERIFY_MAC})
    default_usage = KeyUsage.SIGN_VERIFY
    digests = HmacKey.digests
    message_types = frozenset({"EH_RAW"})
    mac_algorithms = frozenset(MAC_ALGORITHMS)

    def load_private(self, spec: KeySpec, material: bytes) -> HmacKey:
        return HmacKey(material)


HMAC = HmacFamily()
