"""The RSA key family (EH_RSA_2048/3072/4096): encryption and signatures (RFC 8017) over ``cryptography``.

* Encryption: PKCS#1 v1.5 and OAEP with SHA-256 + MGF1-SHA-256 (what the eHSM SDKs use). Plaintext
  limits are checked before any crypto: ``k - 11`` bytes for v1.5, ``k - 2*32 - 2`` for OAEP-SHA256.
  OAEP with SHA-1 + MGF1-SHA-1 (``OAEP_SHA1``, limit ``k - 2*20 - 2``) is accepted too, but has no eHSM
  padding_mode name: only the AWS door asks for it (RSAES_OAEP_SHA_1), so the eHSM door is unchanged.
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
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding, aes_key_wrap_with_padding

from pyehsm.crypto.family import (
    SHA2_DIGESTS,
    DecryptionFailed,
    FamilyBase,
    ImportScheme,
    KeyMaterialError,
    KeyUsage,
    Operation,
    PlaintextTooLong,
    check_digest,
)
from pyehsm.crypto.pkcs8 import OID_RSA_ENCRYPTION, PKCS8_ENCODING, pkcs8_algorithm
from pyehsm.errors import MissingParameter, PaddingNotAllowed, PaddingUse

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

__all__ = [
    "OAEP_SHA1",
    "RSA",
    "PlaintextTooLong",
    "RsaDecryptionError",
    "RsaEncryption",
    "RsaPrivateKey",
    "RsaPublicKey",
]

OAEP_HASH_BYTES = 32  # SHA-256
OAEP_SHA1 = "EH_RSA_PKCS1_OAEP_SHA1"  # not an eHSM padding_mode (PaddingName): the AWS door's RSAES_OAEP_SHA_1


class RsaEncryption(enum.Enum):
    PKCS1 = "PKCS#1 v1.5"
    OAEP = "OAEP-SHA256"
    OAEP_SHA1 = "OAEP-SHA1"


class RsaSignature(enum.Enum):
    PKCS1 = "PKCS#1 v1.5"
    PSS = "PSS"


class RsaKeyError(ValueError):
    """Key material that is not an acceptable RSA key (never carries key bytes)."""


class RsaDecryptionError(Exception):
    """The ciphertext does not decrypt under this key (one error for every cause)."""


def max_plaintext(key_bytes: int, scheme: RsaEncryption) -> int:
    if scheme is RsaEncryption.OAEP:
        return key_bytes - 2 * OAEP_HASH_BYTES - 2
    if scheme is RsaEncryption.OAEP_SHA1:
        return key_bytes - 2 * hashes.SHA1.digest_size - 2
    return key_bytes - 11


def _oaep(label: bytes | None = None) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def _oaep_sha1() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def _encryption_padding(scheme: RsaEncryption, label: bytes | None = None) -> padding.AsymmetricPadding:
    if scheme is RsaEncryption.OAEP:
        return _oaep(label)
    if scheme is RsaEncryption.OAEP_SHA1:
        return _oaep_sha1()
    return padding.PKCS1v15()


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
        try:
            return self._key.decrypt(ciphertext, _encryption_padding(scheme, label))
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


# ------------------------------------------------------------------------------------------------
# the family: wire parameters (padding_mode, digest_mode) on top of the primitives above
# ------------------------------------------------------------------------------------------------

RSA_ENCRYPTION: dict[str, RsaEncryption] = {
    "EH_RSA_PKCS1": RsaEncryption.PKCS1,
    "EH_RSA_PKCS1_OAEP": RsaEncryption.OAEP,
}
RSA_SIGNATURE: dict[str, RsaSignature] = {"EH_RSA_PKCS1": RsaSignature.PKCS1, "EH_RSA_PKCS1_PSS": RsaSignature.PSS}
RSA_IMPORT_SCHEMES: dict[str, ImportScheme] = {
    "EH_RSA_PKCS1": ImportScheme.RSA_PKCS1,
    "EH_RSA_PKCS1_OAEP": ImportScheme.RSA_OAEP,
    "EH_RSA_AES_KEY_WRAP": ImportScheme.RSA_AES_KEY_WRAP,
    "EH_RSA_PKCS1_OAEP_SHA1": ImportScheme.RSA_OAEP_SHA1,
    "EH_RSA_AES_KEY_WRAP_SHA1": ImportScheme.RSA_AES_KEY_WRAP_SHA1,
}
EPHEMERAL_AES_KEY_BYTES = (16, 24, 32)
# SHA-1 only as OAEP's padding hash (AWS KMS's SHA-1 wrapping algorithms), where it is still sound: nothing is signed
_OAEP_SHA1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
_S = TypeVar("_S")


def _scheme(table: dict[str, _S], padding: str | None, use: PaddingUse) -> _S:
    if padding is None:
        raise MissingParameter("padding_mode")
    scheme = table.get(padding)
    if scheme is None:
        raise PaddingNotAllowed(padding, use, tuple(table))
    return scheme


def _rsa_encryption(padding: str | None) -> RsaEncryption:
    if padding == OAEP_SHA1:  # the AWS door's RSAES_OAEP_SHA_1; not listed in the eHSM door's errors
        return RsaEncryption.OAEP_SHA1
    return _scheme(RSA_ENCRYPTION, padding, "encryption")


def _rsa_signature(padding: str | None) -> RsaSignature:
    return _scheme(RSA_SIGNATURE, padding, "signature")


class RsaPublic:
    family = "RSA"
    digests = SHA2_DIGESTS

    def __init__(self, public: RsaPublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        scheme = _rsa_signature(padding)
        alg = check_digest(self.family, self.digests, digest, prehashed, message)
        return self._public.verify(signature, message, alg, scheme, prehashed=prehashed)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        return self._public.encrypt(plaintext, _rsa_encryption(padding))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._public.bits}>"


class RsaPair(RsaPublic):
    def __init__(self, private: RsaPrivateKey) -> None:
        super().__init__(private.public)
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        scheme = _rsa_signature(padding)
        alg = check_digest(self.family, self.digests, digest, prehashed, message)
        return self._private.sign(message, alg, scheme, prehashed=prehashed)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        scheme = _rsa_encryption(padding)
        try:
            return self._private.decrypt(ciphertext, scheme)
        except RsaDecryptionError:
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class RsaWrappingKey:
    """An RSA BYOK wrapping key: OAEP, PKCS#1 v1.5, or RSA-OAEP + AES Key Wrap with Padding (RFC 5649)."""

    def __init__(self, spec: KeySpec, pkcs8_der: bytes) -> None:
        """``pkcs8_der`` is material pyehsm generated and stored authenticated (AES-GCM under the domain
        key), so it skips the slow primality validation that imported keys get."""
        key = serialization.load_der_private_key(pkcs8_der, None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != spec.rsa_bits:
            raise ValueError("not a wrapping key of this keyspec")
        self._key = key
        self._rsa = RsaPrivateKey(key)
        self.spki_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_pem = self._rsa.public.to_pem()

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        try:
            if scheme is ImportScheme.RSA_OAEP:
                return self._rsa.decrypt(ciphertext, RsaEncryption.OAEP)
            if scheme is ImportScheme.RSA_PKCS1:
                return self._rsa.decrypt(ciphertext, RsaEncryption.PKCS1)
            if scheme is ImportScheme.RSA_AES_KEY_WRAP:
                return self._aes_unwrap(ciphertext, self._oaep_sha256)
            if scheme is ImportScheme.RSA_OAEP_SHA1:
                return self._oaep_sha1(ciphertext)
            if scheme is ImportScheme.RSA_AES_KEY_WRAP_SHA1:
                return self._aes_unwrap(ciphertext, self._oaep_sha1)
        except RsaDecryptionError:
            raise DecryptionFailed from None
        raise DecryptionFailed

    def _oaep_sha256(self, ciphertext: bytes) -> bytes:
        return self._rsa.decrypt(ciphertext, RsaEncryption.OAEP)

    def _oaep_sha1(self, ciphertext: bytes) -> bytes:
        """RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label (AWS KMS's RSAES_OAEP_SHA_1 wrapping: SHA-1 is
        only the OAEP padding's hash here, where it is still sound; nothing is signed with it)."""
        if len(ciphertext) != self._rsa.public.key_bytes:
            raise DecryptionFailed
        try:
            return self._key.decrypt(ciphertext, _OAEP_SHA1)
        except ValueError:
            raise DecryptionFailed from None

    def _aes_unwrap(self, ciphertext: bytes, unwrap_kek: Callable[[bytes], bytes]) -> bytes:
        k = self._rsa.public.key_bytes
        wrapped = ciphertext[k:]
        if len(wrapped) < 16 or len(wrapped) % 8:
            raise DecryptionFailed
        kek = unwrap_kek(ciphertext[:k])
        if len(kek) not in EPHEMERAL_AES_KEY_BYTES:
            raise DecryptionFailed
        try:
            return aes_key_unwrap_with_padding(kek, wrapped)
        except (InvalidUnwrap, ValueError):
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("wrapping keys cannot be pickled")


class RsaFamily(FamilyBase):
    name = "RSA"
    symmetric = False
    operations = frozenset({Operation.ASYMMETRIC_ENCRYPT, Operation.SIGN, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.ENCRYPT_DECRYPT
    digests = SHA2_DIGESTS
    message_types = frozenset({"EH_RAW", "EH_DIGEST"})
    sign_paddings = frozenset(RSA_SIGNATURE)
    encrypt_paddings = frozenset(RSA_ENCRYPTION)
    parse_in_thread = True  # full validation of a 4096-bit key: up to 250 ms
    pregenerate = True

    def generate(self, spec: KeySpec) -> bytes:
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.rsa_bits).private_bytes(*PKCS8_ENCODING)

    def load_private(self, spec: KeySpec, material: bytes) -> RsaPair:
        try:
            key = RsaPrivateKey.from_pkcs8_der(material)
        except RsaKeyError:
            raise KeyMaterialError from None
        if key.public.bits != spec.rsa_bits:
            raise KeyMaterialError
        return RsaPair(key)

    def load_public(self, spec: KeySpec, spki_der: bytes) -> RsaPublic:
        try:
            key = RsaPublicKey.from_spki_der(spki_der)
        except RsaKeyError:
            raise KeyMaterialError from None
        if spec.rsa_bits and key.bits != spec.rsa_bits:
            raise KeyMaterialError
        return RsaPublic(key)

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        if pkcs8_algorithm(material) != OID_RSA_ENCRYPTION:
            raise ValueError
        key = serialization.load_der_private_key(material, None)  # full validation: primality, consistency
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != spec.rsa_bits:
            raise ValueError
        return key.private_bytes(*PKCS8_ENCODING)

    def import_rule(self, spec: KeySpec) -> str:
        return f"an unencrypted PKCS#8 DER RSA-{spec.rsa_bits} private key"

    def import_scheme(self, padding: str | None) -> ImportScheme:
        return _scheme(RSA_IMPORT_SCHEMES, padding, "import")

    def load_wrapping_key(self, spec: KeySpec, pkcs8_der: bytes) -> RsaWrappingKey:
        return RsaWrappingKey(spec, pkcs8_der)

    def wrap(self, public_pem: str, material: bytes) -> tuple[bytes, str]:
        """OAEP (SHA-256, MGF1-SHA-256) when the material fits, else RSA-AES key wrap (an OAEP-wrapped ephemeral
        AES-256 key followed by AES-KWP of the material). The PEM may be PKCS#1 or SubjectPublicKeyInfo."""
        public = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("not an RSA public key")
        oaep = _oaep()
        if len(material) <= public.key_size // 8 - 2 * OAEP_HASH_BYTES - 2:
            return public.encrypt(material, oaep), "EH_RSA_PKCS1_OAEP"
        ephemeral = os.urandom(32)
        wrapped = public.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, material)
        return wrapped, "EH_RSA_AES_KEY_WRAP"


RSA = RsaFamily()
