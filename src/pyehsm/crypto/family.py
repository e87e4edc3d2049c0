"""The KeyFamily protocol: what a key family (AES-GCM, SM4, HMAC, RSA, EC, SM2, ...) must provide.

Every keyspec row of :mod:`pyehsm.crypto.keyspecs` points to one family object; services, the keyring, the
key pool and BYOK ask that object instead of comparing keyspec or family names. A family object is
stateless and shared by every keyspec row of the family: the row (a :class:`~pyehsm.crypto.keyspecs.KeySpec`)
carries the sizes (key bytes, RSA bits, curve) and is passed to each method.

The core protocol, :class:`KeyFamily`, is what every family has (generate, load private, check imported
material, its operations and the parameters it accepts). Optional capabilities are separate protocols a
family implements when its operations need them (:class:`PublicKeyFamily` for GetPublicKey and public-key
verification, :class:`WrappingFamily` for BYOK wrapping keys); the primitives a family loads implement the
primitive capability protocols (:class:`SymmetricCipher`, :class:`Signer`, :class:`AsymmetricDecrypter`,
... and, for the families to come, :class:`Decapsulator` and :class:`KeyAgreement`). How to add a family:
docs/contributing-key-families.md.

This module also holds the vocabulary every family shares (operations, usages, digests, message types)
and the errors family code raises; it imports no family module.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from pyehsm.errors import CannotEncrypt, CannotSign, DigestLengthWrong, DigestNotAllowed

if TYPE_CHECKING:
    from pyehsm.crypto import blob
    from pyehsm.crypto.keyspecs import KeySpec


class KeyUsage(enum.Enum):
    ENCRYPT_DECRYPT = "EH_KEYUSAGE_ENCRYPT_DECRYPT"
    SIGN_VERIFY = "EH_KEYUSAGE_SIGN_VERIFY"
    KEY_AGREEMENT = "EH_KEYUSAGE_KEY_AGREEMENT"  # key establishment: ML-KEM (Encapsulate/Decapsulate), ECDH, X25519


# The usages of Intel's reference: a key with GetPublicKey may have either, even if only GetPublicKey uses it.
_REFERENCE_USAGES = (KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY)


class Operation(enum.Enum):
    """What a request wants to do with a key; checked against the keyspec's family and the key's usage."""

    ENCRYPT = "Encrypt"  # symmetric Encrypt/Decrypt and data keys
    ASYMMETRIC_ENCRYPT = "AsymmetricEncrypt"
    SIGN = "Sign"
    PUBLIC_KEY = "GetPublicKey"
    GENERATE_MAC = "GenerateMac"
    VERIFY_MAC = "VerifyMac"
    ENCAPSULATE = "Encapsulate"  # KEM Encapsulate and Decapsulate (ML-KEM)
    DERIVE_SHARED_SECRET = "DeriveSharedSecret"  # key agreement with a peer's public key (ECDH, X25519)

    @property
    def usage(self) -> KeyUsage | None:
        if self in (Operation.ENCRYPT, Operation.ASYMMETRIC_ENCRYPT):
            return KeyUsage.ENCRYPT_DECRYPT
        if self in (Operation.SIGN, Operation.GENERATE_MAC, Operation.VERIFY_MAC):
            return KeyUsage.SIGN_VERIFY
        if self in (Operation.ENCAPSULATE, Operation.DERIVE_SHARED_SECRET):
            return KeyUsage.KEY_AGREEMENT
        return None


class ImportScheme(enum.Enum):
    """How BYOK key material is wrapped under a wrapping key (ImportKeyMaterial's padding_mode)."""

    RSA_PKCS1 = "EH_RSA_PKCS1"
    RSA_OAEP = "EH_RSA_PKCS1_OAEP"
    RSA_AES_KEY_WRAP = "EH_RSA_AES_KEY_WRAP"
    RSA_OAEP_SHA1 = "EH_RSA_PKCS1_OAEP_SHA1"  # AWS KMS's RSAES_OAEP_SHA_1 wrapping
    RSA_AES_KEY_WRAP_SHA1 = "EH_RSA_AES_KEY_WRAP_SHA1"  # AWS KMS's RSA_AES_KEY_WRAP_SHA_1 wrapping
    SM2 = "SM2"
    ML_KEM_AES_KEY_WRAP = "EH_ML_KEM_AES_KEY_WRAP"


# ------------------------------------------------------------------------------------------------
# shared parameters: digests and message types
# ------------------------------------------------------------------------------------------------

DIGEST_SIZES = {"EH_SHA_224": 28, "EH_SHA_256": 32, "EH_SHA_384": 48, "EH_SHA_512": 64, "EH_SM3": 32}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}
# One instance per digest, shared: hash algorithm objects are immutable descriptions (name, sizes).
_HASH_OBJECTS: dict[str, hashes.HashAlgorithm] = {name: make() for name, make in HASHES.items()}
SHA2_DIGESTS = frozenset({"EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512"})
# GenerateMac/VerifyMac's macAlgorithm -> the digest it uses (AWS KMS's names, with SM3 added).
MAC_ALGORITHMS: dict[str, str] = {
    "HMAC_SHA_224": "EH_SHA_224",
    "HMAC_SHA_256": "EH_SHA_256",
    "HMAC_SHA_384": "EH_SHA_384",
    "HMAC_SHA_512": "EH_SHA_512",
    "HMAC_SM3": "EH_SM3",
}
MESSAGE_TYPE_PREHASHED: dict[str, bool] = {"EH_RAW": False, "EH_DIGEST": True}
ALL_MESSAGE_TYPES = frozenset(MESSAGE_TYPE_PREHASHED)


# ------------------------------------------------------------------------------------------------
# errors family code raises: parameters a key cannot take raise the domain errors of pyehsm.errors (no
# wire text; each protocol adapter renders them); the three below are crypto-level facts the services
# turn into domain errors (DecryptionFailed carries nothing about the data or the key).
# ------------------------------------------------------------------------------------------------


class DecryptionFailed(Exception):
    """The ciphertext does not decrypt under this key (one error for every cause)."""


class KeyMaterialError(Exception):
    """Stored material is not a key of the expected keyspec (a server-side fault)."""


def load_private_der(material: bytes, kind: type[Any]) -> Any:
    """Stored PKCS#8 DER material as a ``cryptography`` private key of ``kind``; KeyMaterialError otherwise."""
    try:
        key = serialization.load_der_private_key(material, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError from None
    if not isinstance(key, kind):
        raise KeyMaterialError
    return key


def load_public_der(spki_der: bytes, kind: type[Any]) -> Any:
    """SubjectPublicKeyInfo DER as a ``cryptography`` public key of ``kind``; KeyMaterialError otherwise."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError from None
    if not isinstance(key, kind):
        raise KeyMaterialError
    return key


class PlaintextTooLong(ValueError):
    def __init__(self, max_bytes: int, scheme: str) -> None:
        super().__init__(f"{scheme} encrypts at most {max_bytes} bytes")
        self.max_bytes = max_bytes
        self.scheme = scheme


def check_digest(
    family: str, allowed: frozenset[str], digest: str, prehashed: bool, message: bytes
) -> hashes.HashAlgorithm:
    """The hash for ``digest`` if ``family`` allows it and an EH_DIGEST message has its size."""
    if digest not in allowed:
        raise DigestNotAllowed(digest, family, tuple(sorted(allowed)))
    if prehashed and len(message) != DIGEST_SIZES[digest]:
        raise DigestLengthWrong(digest, DIGEST_SIZES[digest])
    return _HASH_OBJECTS[digest]


def no_encryption(family: str) -> NoReturn:
    raise CannotEncrypt(family)


def no_signing(family: str) -> NoReturn:
    raise CannotSign(family)


# ------------------------------------------------------------------------------------------------
# primitive capabilities: what ``KeyFamily.load_private`` / ``PublicKeyFamily.load_public`` return
# ------------------------------------------------------------------------------------------------


@runtime_checkable
class SymmetricCipher(Protocol):
    """Encrypt/Decrypt and data keys: seals into the body of a pyehsm ciphertext blob."""

    algorithm: blob.AlgorithmId

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes: ...

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        """Raises aead.AuthenticationFailed on any mismatch."""
        ...


@runtime_checkable
class Verifier(Protocol):
    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        """False for a signature that does not verify; a domain error for unusable parameters."""
        ...


@runtime_checkable
class Signer(Verifier, Protocol):
    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes: ...


@runtime_checkable
class PublicKeyPrimitive(Verifier, Protocol):
    def public_pem(self) -> str:
        """PEM text: PKCS#1 (``BEGIN RSA PUBLIC KEY``) for RSA, SubjectPublicKeyInfo for EC and SM2."""
        ...

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes: ...


@runtime_checkable
class ContextSigner(Protocol):
    """Pure signatures with a context string or over a caller-computed external mu (ML-DSA, FIPS 204)."""

    def sign_pure(self, message: bytes, *, context: bytes, mu: bool) -> bytes: ...

    def verify_pure(self, signature: bytes, message: bytes, *, context: bytes, mu: bool) -> bool: ...


@runtime_checkable
class AsymmetricDecrypter(Protocol):
    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        """DecryptionFailed when the ciphertext does not decrypt."""
        ...


@runtime_checkable
class KeyPrimitive(PublicKeyPrimitive, Signer, AsymmetricDecrypter, Protocol):
    """The private-key primitive of the signing / public-key-encryption families (and HMAC), one interface so
    the asymmetric service needs no per-family code; an operation the family lacks raises a domain error."""


@runtime_checkable
class MacKey(Protocol):
    """GenerateMac/VerifyMac: full-length MACs of a message under one of ``MAC_ALGORITHMS``."""

    key_bytes: int  # the key's length (not secret): the AWS door's HMAC_224/256/384/512 follow from it

    def generate_mac(self, message: bytes, algorithm: str) -> bytes: ...

    def verify_mac(self, message: bytes, algorithm: str, mac: bytes) -> bool:
        """True only for the full-length MAC of ``message``; compared in constant time."""
        ...


@runtime_checkable
class Encapsulator(Protocol):
    """KEM public side (for ML-KEM and the like): (shared secret, encapsulation)."""

    def encapsulate(self) -> tuple[bytes, bytes]: ...


@runtime_checkable
class Decapsulator(Protocol):
    def decapsulate(self, encapsulation: bytes) -> bytes: ...


@runtime_checkable
class KeyAgreement(Protocol):
    """Key agreement (X25519, ECDH): the shared secret with a peer's SubjectPublicKeyInfo DER."""

    def derive_shared_secret(self, peer_spki_der: bytes) -> bytes: ...


@runtime_checkable
class Unwrapper(Protocol):
    """The private half of a BYOK wrapping key pair."""

    spki_der: bytes
    public_pem: str

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        """The material; DecryptionFailed (one error for every cause) if it does not open."""
        ...


# ------------------------------------------------------------------------------------------------
# family capabilities
# ------------------------------------------------------------------------------------------------


@runtime_checkable
class KeyFamily(Protocol):
    """What every key family provides. Attributes are facts the registry and the services read."""

    name: str  # shown in messages: "RSA", "EC", "SM2", "HMAC", "AES_GCM", ...
    symmetric: bool  # raw secret bytes (True) or a key pair stored as PKCS#8 DER (False)
    operations: frozenset[Operation]  # what the algorithm can do; usages are derived from these
    default_usage: KeyUsage  # CreateKey without keyusage
    digests: frozenset[str]  # digest_mode values Sign/Verify accept (empty: the family does not sign)
    message_types: frozenset[str]  # message_type values Sign/Verify accept
    sign_paddings: frozenset[str]  # padding_mode values Sign/Verify require (empty: padding is ignored)
    encrypt_paddings: frozenset[str]  # padding_mode values AsymmetricEncrypt/Decrypt require (empty: ignored)
    parse_in_thread: bool  # loading material is slow enough (RSA validation) to run off the event loop
    pregenerate: bool  # generation is slow enough that the key pool keeps material ready

    def generate(self, spec: KeySpec) -> bytes:
        """Fresh material: raw bytes for symmetric keys, PKCS#8 DER for key pairs."""
        ...

    def load_private(self, spec: KeySpec, material: bytes) -> Any:
        """The primitive for one key version's material (a SymmetricCipher or a KeyPrimitive ...);
        KeyMaterialError if the material is not a key of ``spec``."""
        ...

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        """The material to store for imported (BYOK) ``material``; ValueError if it does not fit ``spec``."""
        ...

    def import_rule(self, spec: KeySpec) -> str:
        """What imported material must be, for the error message ("16 bytes", "an unencrypted PKCS#8 ...")."""
        ...


@runtime_checkable
class SymmetricFamily(KeyFamily, Protocol):
    """Families whose primitive is a SymmetricCipher over the raw key (AES-GCM, SM4)."""

    def cipher(self, key: bytes) -> SymmetricCipher: ...


@runtime_checkable
class MacFamily(KeyFamily, Protocol):
    """Families whose primitive is a :class:`MacKey` (HMAC): GenerateMac and VerifyMac."""

    mac_algorithms: frozenset[str]  # the macAlgorithm values its keys accept

    def load_private(self, spec: KeySpec, material: bytes) -> MacKey: ...


@runtime_checkable
class PublicKeyFamily(KeyFamily, Protocol):
    def load_public(self, spec: KeySpec, spki_der: bytes) -> PublicKeyPrimitive:
        """A verify/encrypt primitive from a DER SubjectPublicKeyInfo; KeyMaterialError if it is not one."""
        ...


@runtime_checkable
class WrappingFamily(KeyFamily, Protocol):
    """Families whose key pairs can be BYOK wrapping keys (GetParametersForImport)."""

    def import_scheme(self, padding: str | None) -> ImportScheme:
        """The unwrapping scheme for ImportKeyMaterial's padding_mode; a domain error if there is none."""
        ...

    def load_wrapping_key(self, spec: KeySpec, pkcs8_der: bytes) -> Unwrapper:
        """ValueError if ``pkcs8_der`` is not a key pair of ``spec``."""
        ...

    def wrap(self, public_pem: str, material: bytes) -> tuple[bytes, str]:
        """The client side: ``material`` wrapped under the import public key, and the padding_mode to send.
        ValueError if ``public_pem`` is not a public key of this family."""
        ...


def usages_of(operations: frozenset[Operation]) -> tuple[KeyUsage, ...]:
    """The usages a key can usefully have: one some operation wants, or either of the reference's two usages when an
    operation (GetPublicKey) wants none. AES/SM4: ENCRYPT_DECRYPT only; HMAC: SIGN_VERIFY only; RSA, EC and SM2:
    both (an EC key with ENCRYPT_DECRYPT still serves GetPublicKey, and Intel's SDK tests create such keys and
    expect success); ML-KEM: KEY_AGREEMENT and, for GetPublicKey, the two reference usages."""
    return tuple(
        u for u in KeyUsage if any(op.usage is u or (op.usage is None and u in _REFERENCE_USAGES) for op in operations)
    )


def raw_sizes(sizes: tuple[int, ...]) -> str:
    if len(sizes) == 1:
        return f"{sizes[0]} bytes"
    if sizes == tuple(range(sizes[0], sizes[-1] + 1)):
        return f"{sizes[0]} to {sizes[-1]} bytes"
    return " or ".join(str(n) for n in sizes) + " bytes"


class FamilyBase:
    """Identity of a family object: ``name`` (also as ``value``, the spelling of the enum it replaced) and repr."""

    name: str

    @property
    def value(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<KeyFamily {self.name}>"


class RawKeyFamily(FamilyBase):
    """Shared behaviour of the families whose material is raw random bytes (AES, SM4, HMAC): generation, the
    import length check and the facts that do not differ. Subclasses set the rest and ``load_private``."""

    symmetric = True
    digests: frozenset[str] = frozenset()
    message_types: frozenset[str] = frozenset()
    sign_paddings: frozenset[str] = frozenset()
    encrypt_paddings: frozenset[str] = frozenset()
    parse_in_thread = False
    pregenerate = False

    def generate(self, spec: KeySpec) -> bytes:
        return os.urandom(spec.key_bytes)

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        if len(material) not in spec.import_sizes:
            raise ValueError
        return bytes(material)

    def import_rule(self, spec: KeySpec) -> str:
        return raw_sizes(spec.import_sizes)
