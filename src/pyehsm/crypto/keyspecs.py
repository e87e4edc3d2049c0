"""THE registry of keyspecs, usages, origins, paddings and digests.

One row per keyspec; each row points to its family object (a :class:`~pyehsm.crypto.family.KeyFamily`,
one module per family), which knows how to generate, load and import the keyspec's material and which
operations, usages, digests, paddings and message types it allows. Every rule of the form "what can this
keyspec do" is answered here or by the row's family: callers never compare keyspec or family names.
Adding a key family is one module under crypto/ and one row here (docs/contributing-key-families.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from pyehsm.crypto.aes_gcm import AES_GCM
from pyehsm.crypto.ec import EC
from pyehsm.crypto.ed25519 import ED25519
from pyehsm.crypto.family import DIGEST_SIZES, KeyFamily, KeyUsage, Operation, usages_of
from pyehsm.crypto.hmac import HMAC
from pyehsm.crypto.mldsa import ML_DSA
from pyehsm.crypto.mlkem import ML_KEM
from pyehsm.crypto.rsa import RSA
from pyehsm.crypto.sm2 import SM2
from pyehsm.crypto.sm4 import SM4_CBC, SM4_CTR
from pyehsm.crypto.x25519 import X25519

__all__ = [  # DIGEST_SIZES, KeyFamily, KeyUsage and Operation are re-exported: the registry's vocabulary
    "ASYMMETRIC_KEYSPEC_NAMES",
    "DIGEST_NAMES",
    "DIGEST_SIZES",
    "KEYSPECS",
    "KEYSPEC_NAMES",
    "MESSAGE_TYPES",
    "ORIGIN_NAMES",
    "PADDING_NAMES",
    "USAGE_NAMES",
    "WRAPPING_KEYSPEC_NAMES",
    "DigestName",
    "Family",
    "KeyFamily",
    "KeySpec",
    "KeySpecName",
    "KeyUsage",
    "MessageTypeName",
    "Operation",
    "Origin",
    "OriginName",
    "PaddingName",
    "UsageName",
    "WrappingKeySpecName",
    "generate_material",
    "is_slow",
    "keyspec",
]

# Wire names, written once; payload Structs use these Literals so msgspec validates them.
KeySpecName = Literal[
    "EH_AES_GCM_128",
    "EH_AES_GCM_192",
    "EH_AES_GCM_256",
    "EH_SM4_CTR",
    "EH_SM4_CBC",
    "EH_HMAC",
    "EH_RSA_2048",
    "EH_RSA_3072",
    "EH_RSA_4096",
    "EH_EC_P224",
    "EH_EC_P256",
    "EH_EC_P256K",
    "EH_EC_P384",
    "EH_EC_P521",
    "EH_SM2",
    "EH_ML_DSA_44",
    "EH_ML_DSA_65",
    "EH_ML_DSA_87",
    "EH_ED25519",
    "EH_ML_KEM_768",
    "EH_ML_KEM_1024",
    "EH_X25519",
]
UsageName = Literal["EH_KEYUSAGE_ENCRYPT_DECRYPT", "EH_KEYUSAGE_SIGN_VERIFY", "EH_KEYUSAGE_KEY_AGREEMENT"]
OriginName = Literal["EH_INTERNAL_KEY", "EH_EXTERNAL_KEY"]
PaddingName = Literal["EH_PAD_NONE", "EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP", "EH_RSA_PKCS1_PSS"]
DigestName = Literal["EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512", "EH_SM3"]
MessageTypeName = Literal["EH_RAW", "EH_DIGEST", "EH_EXTERNAL_MU"]
WrappingKeySpecName = Literal["EH_RSA_2048", "EH_RSA_3072", "EH_RSA_4096", "EH_SM2", "EH_ML_KEM_768", "EH_ML_KEM_1024"]


class Family:
    """The family objects by name, for code that must name one (tests, docs); rows hold the objects."""

    AES_GCM: Final = AES_GCM
    SM4_CTR: Final = SM4_CTR
    SM4_CBC: Final = SM4_CBC
    HMAC: Final = HMAC
    RSA: Final = RSA
    EC: Final = EC
    SM2: Final = SM2
    ML_DSA: Final = ML_DSA
    ED25519: Final = ED25519
    ML_KEM: Final = ML_KEM
    X25519: Final = X25519


class Origin(enum.Enum):
    INTERNAL = "EH_INTERNAL_KEY"
    EXTERNAL = "EH_EXTERNAL_KEY"


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    family: KeyFamily
    key_bytes: int = 0  # symmetric key length
    rsa_bits: int = 0
    curve: str = ""  # cryptography curve name for EC
    parameter_set: str = ""  # FIPS 203/204 parameter set (ML-DSA-65, ML-KEM-768, ...)
    default_digest: str = "EH_SHA_256"
    import_sizes: tuple[int, ...] = ()  # accepted raw lengths for imported symmetric material

    @property
    def symmetric(self) -> bool:
        return self.family.symmetric

    @property
    def default_usage(self) -> KeyUsage:
        return self.family.default_usage

    def supports(self, op: Operation) -> bool:
        """Whether the algorithm itself can perform ``op`` (independent of the stored usage)."""
        return op in self.family.operations

    def allows_usage(self, usage: KeyUsage) -> bool:
        """Whether a key of this keyspec with ``usage`` could serve some operation of its family
        (:func:`pyehsm.crypto.family.usages_of`)."""
        return usage in self.usable_usages()

    def usable_usages(self) -> tuple[KeyUsage, ...]:
        return usages_of(self.family.operations)

    def load(self, material: bytes) -> Any:
        """The primitive (cipher, key pair, MAC key) of one key version's material, built by the family."""
        return self.family.load_private(self, material)


_SPECS = (
    KeySpec("EH_AES_GCM_128", AES_GCM, key_bytes=16, import_sizes=(16,)),
    KeySpec("EH_AES_GCM_192", AES_GCM, key_bytes=24, import_sizes=(24,)),
    KeySpec("EH_AES_GCM_256", AES_GCM, key_bytes=32, import_sizes=(32,)),
    KeySpec("EH_SM4_CTR", SM4_CTR, key_bytes=16, import_sizes=(16,)),
    KeySpec("EH_SM4_CBC", SM4_CBC, key_bytes=16, import_sizes=(16,)),
    # HMAC keys: 32 random bytes when generated; 14..128 bytes accepted on import (crypto/hmac.py says why).
    KeySpec("EH_HMAC", HMAC, key_bytes=32, import_sizes=tuple(range(14, 129))),
    KeySpec("EH_RSA_2048", RSA, rsa_bits=2048),
    KeySpec("EH_RSA_3072", RSA, rsa_bits=3072),
    KeySpec("EH_RSA_4096", RSA, rsa_bits=4096),
    KeySpec("EH_EC_P224", EC, curve="secp224r1"),
    KeySpec("EH_EC_P256", EC, curve="secp256r1"),
    KeySpec("EH_EC_P256K", EC, curve="secp256k1"),
    KeySpec("EH_EC_P384", EC, curve="secp384r1"),
    KeySpec("EH_EC_P521", EC, curve="secp521r1"),
    KeySpec("EH_SM2", SM2, default_digest="EH_SM3"),
    KeySpec("EH_ML_DSA_44", ML_DSA, parameter_set="ML-DSA-44"),
    KeySpec("EH_ML_DSA_65", ML_DSA, parameter_set="ML-DSA-65"),
    KeySpec("EH_ML_DSA_87", ML_DSA, parameter_set="ML-DSA-87"),
    KeySpec("EH_ED25519", ED25519, default_digest="EH_SHA_512"),
    KeySpec("EH_ML_KEM_768", ML_KEM, parameter_set="ML-KEM-768"),
    KeySpec("EH_ML_KEM_1024", ML_KEM, parameter_set="ML-KEM-1024"),
    KeySpec("EH_X25519", X25519),
)

KEYSPECS: dict[str, KeySpec] = {spec.name: spec for spec in _SPECS}
KEYSPEC_NAMES: tuple[str, ...] = get_args(KeySpecName)
if set(KEYSPEC_NAMES) != set(KEYSPECS):  # pragma: no cover - guards the two lists above
    raise RuntimeError("KeySpecName and the keyspec registry disagree")
ASYMMETRIC_KEYSPEC_NAMES: tuple[str, ...] = tuple(s.name for s in _SPECS if not s.symmetric)
USAGE_NAMES: tuple[str, ...] = tuple(u.value for u in KeyUsage)
ORIGIN_NAMES: tuple[str, ...] = tuple(o.value for o in Origin)

PADDING_NAMES: tuple[str, ...] = get_args(PaddingName)
DIGEST_NAMES: tuple[str, ...] = get_args(DigestName)
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageTypeName)
WRAPPING_KEYSPEC_NAMES: tuple[str, ...] = get_args(WrappingKeySpecName)


def keyspec(name: str) -> KeySpec:
    """The KeySpec for a wire name; KeyError for an unknown name (validated earlier)."""
    return KEYSPECS[name]


def generate_material(spec: KeySpec) -> bytes:
    """Fresh material for ``spec``: raw bytes for symmetric keys, PKCS#8 DER for key pairs."""
    return spec.family.generate(spec)


def is_slow(spec: KeySpec) -> bool:
    """Whether material is generated off the event loop and pre-generated by the key pool."""
    return spec.family.pregenerate
