"""RSA encryption and signatures (RFC 8017) over ``cryptography``.

* Encryption: PKCS#1 v1.5 and OAEP with SHA-256 + MGF1-SHA-256 (what the eHSM SDKs use). Plaintext
  limits are checked before any crypto: ``k - 11`` bytes for v1.5, ``k - 2*32 - 2`` for OAEP-SHA256.
* PKCS#1 v1.5 decryption uses *implicit rejection* (OpenSSL >= 3.2, draft-irtf-cfrg-rsa-guidance):
  a ciphertext with invalid padding decrypts to a synthetic message derived from the private key and
  the ciphertext instead of failing, so the service is no Bleichenbacher/Marvin padding oracle.
  Callers that need integrity must use OAEP (or authenticate the plaintext themselves).
* Signatures: PKCS#1 v1.5 and PSS (MGF1 with the message hash). PSS signs with salt length = digest
  length and verifies with any salt length unless one is given (interoperates with every signer).
  Signatures are raw ``k``-byte big-endian integers.

Private keys are loaded with full validation (primality and consistency, up to 250 ms for 4096 bits);
callers cache the parsed objects.
"""

from __future__ import annotations

import enum
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

OAEP_HASH_BYTES = 32  # SHA-256


class RsaEncryption(enum.Enum):
    PKCS1 = "PKCS#1 v1.5"
    OAEP = "OAEP-SHA256"


class RsaSignature(enum.Enum):
    PKCS1 = "PKCS#1 v1.5"
    PSS = "PSS"


class RsaKeyError(ValueError):
    """Key material that is not an acceptable RSA key (never carries key bytes)."""


class PlaintextTooLong(ValueError):
    def __init__(self, max_bytes: int, scheme: str) -> None:
        super().__init__(f"{scheme} encrypts at most {max_bytes} bytes")
        self.max_bytes = max_bytes
        self.scheme = scheme


class RsaDecryptionError(Exception):
    """The ciphertext does not decrypt under this key (one error for every cause)."""


def max_plaintext(key_bytes: int, scheme: RsaEncryption) -> int:
    if scheme is RsaEncryption.OAEP:
        return key_bytes - 2 * OAEP_HASH_BYTES - 2
    return key_bytes - 11


def _oaep(label: bytes | None = None) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def _encryption_padding(scheme: RsaEncryption) -> padding.AsymmetricPadding:
    return _oaep() if scheme is RsaEncryption.OAEP else padding.PKCS1v15()


def _sign_padding(scheme: RsaSignature, hash_alg: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if scheme is RsaSignature.PSS:
        return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()


def _verify_padding(
    scheme: RsaSignature, hash_alg: hashes.HashAlgorithm, salt_length: int | None
) -> padding.AsymmetricPadding:
    if scheme is RsaSignature.PSS:
        salt = padding.PSS.AUTO if salt_length is None else salt_length
        return padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=salt)
    return padding.PKCS1v15()


def _algorithm(hash_alg: hashes.HashAlgorithm, prehashed: bool) -> hashes.HashAlgorithm | Prehashed:
    return Prehashed(hash_alg) if prehashed else hash_alg


class RsaPublicKey:
    __slots__ = ("_key", "key_bytes")

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key
        self.key_bytes = (key.key_size + 7) // 8

    @classmethod
    def from_spki_der(cls, der: bytes) -> RsaPublicKey:
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise RsaKeyError("malformed RSA public key") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise RsaKeyError("not an RSA public key")
        return cls(key)

    @property
    def bits(self) -> int:
        return self._key.key_size

    def to_pem(self) -> str:
        """PKCS#1 ``RSAPublicKey`` PEM (``-----BEGIN RSA PUBLIC KEY-----``): what Intel's server emits through
        OpenSSL's type-specific encoder, and what Intel's Rust SDK parses (docs/protocol.md, GetPublicKey)."""
        pem = self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        return pem.decode("ascii")

    def encrypt(self, plaintext: bytes, scheme: RsaEncryption) -> bytes:
        limit = max_plaintext(self.key_bytes, scheme)
        if len(plaintext) > limit:
            raise PlaintextTooLong(limit, f"RSA-{self.bits} with {scheme.value}")
        return self._key.encrypt(plaintext, _encryption_padding(scheme))

    def verify(
        self,
        signature: bytes,
        data: bytes,
        hash_alg: hashes.HashAlgorithm,
        scheme: RsaSignature,
        *,
        prehashed: bool = False,
        salt_length: int | None = None,
    ) -> bool:
        """True iff ``signature`` is valid; PSS accepts any salt length unless ``salt_length`` is given."""
        pad = _verify_padding(scheme, hash_alg, salt_length)
        try:
            self._key.verify(signature, data, pad, _algorithm(hash_alg, prehashed))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"<RsaPublicKey {self.bits}>"


class RsaPrivateKey:
    __slots__ = ("_key", "public")

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self.public = RsaPublicKey(key.public_key())

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> RsaPrivateKey:
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise RsaKeyError("malformed RSA private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise RsaKeyError("not an RSA private key")
        return cls(key)

    def decrypt(self, ciphertext: bytes, scheme: RsaEncryption, *, label: bytes | None = None) -> bytes:
        if len(ciphertext) != self.public.key_bytes:
            raise RsaDecryptionError
        pad = _oaep(label) if scheme is RsaEncryption.OAEP else padding.PKCS1v15()
        try:
            return self._key.decrypt(ciphertext, pad)
        except ValueError:
            raise RsaDecryptionError from None

    def sign(
        self, data: bytes, hash_alg: hashes.HashAlgorithm, scheme: RsaSignature, *, prehashed: bool = False
    ) -> bytes:
        pad = _sign_padding(scheme, hash_alg)
        return self._key.sign(data, pad, _algorithm(hash_alg, prehashed))

    def __repr__(self) -> str:
        return f"<RsaPrivateKey {self.public.bits}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("RSA private keys cannot be pickled")
