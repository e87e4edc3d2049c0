"""THE registry of keyspecs, usages, origins, paddings and digests.

Every rule of the form "what can this keyspec do" lives here and nowhere else: callers ask the
registry instead of comparing keyspec names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, get_args

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
]
UsageName = Literal["EH_KEYUSAGE_ENCRYPT_DECRYPT", "EH_KEYUSAGE_SIGN_VERIFY"]
OriginName = Literal["EH_INTERNAL_KEY", "EH_EXTERNAL_KEY"]
PaddingName = Literal["EH_PAD_NONE", "EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP", "EH_RSA_PKCS1_PSS"]
DigestName = Literal["EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512", "EH_SM3"]
MessageTypeName = Literal["EH_RAW", "EH_DIGEST"]
WrappingKeySpecName = Literal["EH_RSA_2048", "EH_RSA_3072", "EH_RSA_4096", "EH_SM2"]


class Family(enum.Enum):
    AES_GCM = "AES_GCM"
    SM4_CTR = "SM4_CTR"
    SM4_CBC = "SM4_CBC"
    HMAC = "HMAC"
    RSA = "RSA"
    EC = "EC"
    SM2 = "SM2"


class KeyUsage(enum.Enum):
    ENCRYPT_DECRYPT = "EH_KEYUSAGE_ENCRYPT_DECRYPT"
    SIGN_VERIFY = "EH_KEYUSAGE_SIGN_VERIFY"


class Origin(enum.Enum):
    INTERNAL = "EH_INTERNAL_KEY"
    EXTERNAL = "EH_EXTERNAL_KEY"


class Operation(enum.Enum):
    """What a request wants to do with a key; checked against keyspec and usage."""

    ENCRYPT = "Encrypt"  # symmetric Encrypt/Decrypt and data keys
    ASYMMETRIC_ENCRYPT = "AsymmetricEncrypt"
    SIGN = "Sign"
    PUBLIC_KEY = "GetPublicKey"

    @property
    def usage(self) -> KeyUsage | None:
        if self in (Operation.ENCRYPT, Operation.ASYMMETRIC_ENCRYPT):
            return KeyUsage.ENCRYPT_DECRYPT
        if self is Operation.SIGN:
            return KeyUsage.SIGN_VERIFY
        return None


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    family: Family
    key_bytes: int = 0  # symmetric key length
    rsa_bits: int = 0
    curve: str = ""  # cryptography curve name for EC
    default_digest: str = "EH_SHA_256"
    import_sizes: tuple[int, ...] = ()  # accepted raw lengths for imported symmetric material

    @property
    def symmetric(self) -> bool:
        return self.family in (Family.AES_GCM, Family.SM4_CTR, Family.SM4_CBC, Family.HMAC)

    @property
    def default_usage(self) -> KeyUsage:
        if self.family in (Family.EC, Family.HMAC):
            return KeyUsage.SIGN_VERIFY
        return KeyUsage.ENCRYPT_DECRYPT

    def supports(self, op: Operation) -> bool:
        """Whether the algorithm itself can perform ``op`` (independent of the stored usage)."""
        if op is Operation.ENCRYPT:
            return self.family in (Family.AES_GCM, Family.SM4_CTR, Family.SM4_CBC)
        if op is Operation.ASYMMETRIC_ENCRYPT:
            return self.family in (Family.RSA, Family.SM2)
        if op is Operation.SIGN:
            return self.family in (Family.RSA, Family.EC, Family.SM2, Family.HMAC)
        return not self.symmetric  # PUBLIC_KEY

    def allows_usage(self, usage: KeyUsage) -> bool:
        """Whether a key of this keyspec with ``usage`` could serve some operation: one the algorithm supports
        and that wants ``usage`` or any usage (GetPublicKey). AES/SM4: ENCRYPT_DECRYPT only; HMAC: SIGN_VERIFY
        only; RSA, EC and SM2: both (an EC key with ENCRYPT_DECRYPT still serves GetPublicKey, and Intel's
        SDK tests create such keys and expect success)."""
        return any(self.supports(op) and op.usage in (None, usage) for op in Operation)

    def usable_usages(self) -> tuple[KeyUsage, ...]:
        return tuple(u for u in KeyUsage if self.allows_usage(u))


_SPECS = (
    KeySpec("EH_AES_GCM_128", Family.AES_GCM, key_bytes=16, import_sizes=(16,)),
    KeySpec("EH_AES_GCM_192", Family.AES_GCM, key_bytes=24, import_sizes=(24,)),
    KeySpec("EH_AES_GCM_256", Family.AES_GCM, key_bytes=32, import_sizes=(32,)),
    KeySpec("EH_SM4_CTR", Family.SM4_CTR, key_bytes=16, import_sizes=(16,)),
    KeySpec("EH_SM4_CBC", Family.SM4_CBC, key_bytes=16, import_sizes=(16,)),
    # HMAC keys: 32 random bytes when generated; 16..64 bytes accepted on import.
    KeySpec("EH_HMAC", Family.HMAC, key_bytes=32, import_sizes=tuple(range(16, 65))),
    KeySpec("EH_RSA_2048", Family.RSA, rsa_bits=2048),
    KeySpec("EH_RSA_3072", Family.RSA, rsa_bits=3072),
    KeySpec("EH_RSA_4096", Family.RSA, rsa_bits=4096),
    KeySpec("EH_EC_P224", Family.EC, curve="secp224r1"),
    KeySpec("EH_EC_P256", Family.EC, curve="secp256r1"),
    KeySpec("EH_EC_P256K", Family.EC, curve="secp256k1"),
    KeySpec("EH_EC_P384", Family.EC, curve="secp384r1"),
    KeySpec("EH_EC_P521", Family.EC, curve="secp521r1"),
    KeySpec("EH_SM2", Family.SM2, default_digest="EH_SM3"),
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
DIGEST_SIZES = {"EH_SHA_224": 28, "EH_SHA_256": 32, "EH_SHA_384": 48, "EH_SHA_512": 64, "EH_SM3": 32}
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageTypeName)
WRAPPING_KEYSPEC_NAMES: tuple[str, ...] = get_args(WrappingKeySpecName)


def keyspec(name: str) -> KeySpec:
    """The KeySpec for a wire name; KeyError for an unknown name (validated earlier)."""
    return KEYSPECS[name]
