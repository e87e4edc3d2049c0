"""AWS names for pyehsm's key specs, usages, states and algorithms (one place, both directions)."""

from __future__ import annotations

import dataclasses

from pyehsm.crypto.keyspecs import KeySpec, KeyUsage, Origin, keyspec
from pyehsm.crypto.rsa import OAEP_SHA1
from pyehsm.store.records import KeyState

# AWS KeySpec -> pyehsm keyspec (CreateKey; HMAC_* below).
CREATE_SPECS: dict[str, str] = {
    "SYMMETRIC_DEFAULT": "EH_AES_GCM_256",
    "RSA_2048": "EH_RSA_2048",
    "RSA_3072": "EH_RSA_3072",
    "RSA_4096": "EH_RSA_4096",
    "ECC_NIST_P256": "EH_EC_P256",
    "ECC_NIST_P384": "EH_EC_P384",
    "ECC_NIST_P521": "EH_EC_P521",
    "ECC_SECG_P256K1": "EH_EC_P256K",
    "SM2": "EH_SM2",
    "ML_DSA_44": "EH_ML_DSA_44",  # FIPS 204 (crypto/mldsa.py): Sign/Verify with ML_DSA_SHAKE_256
    "ML_DSA_65": "EH_ML_DSA_65",
    "ML_DSA_87": "EH_ML_DSA_87",
    "ECC_NIST_EDWARDS25519": "EH_ED25519",  # PureEdDSA: Sign/Verify with ED25519_SHA_512 over RAW messages
}
ALL_AWS_SPECS = (
    *CREATE_SPECS,
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
)
# pyehsm keyspec -> the AWS KeySpec reported (keys made on the eHSM door: the nearest AWS name).
_REPORTED: dict[str, str] = {v: k for k, v in CREATE_SPECS.items()} | {
    "EH_AES_GCM_128": "SYMMETRIC_DEFAULT",
    "EH_AES_GCM_192": "SYMMETRIC_DEFAULT",
    "EH_SM4_CTR": "SYMMETRIC_DEFAULT",
    "EH_SM4_CBC": "SYMMETRIC_DEFAULT",
    "EH_HMAC": "HMAC_256",
    "EH_EC_P224": "ECC_NIST_P224",
}


# HMAC keys: pyehsm has one keyspec, EH_HMAC, whose keys may be of any length (crypto/hmac.py). An AWS HMAC_*
# key is an EH_HMAC key of that spec's length, and a key's AWS spec follows from its length: no column
# records it. Lengths other than these four (keys imported on the eHSM door) take the largest spec whose
# length they reach (below 32 bytes: HMAC_224). Each spec takes the one MacAlgorithm of its digest, as on AWS.
HMAC_KEY_BYTES: dict[str, int] = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
MAC_ALGORITHM_OF: dict[str, str] = {name: "HMAC_SHA_" + name[5:] for name in HMAC_KEY_BYTES}
ALL_MAC_ALGORITHMS = ("HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512")
_HMAC = "EH_HMAC"


def hmac_spec(key_bytes: int) -> str:
    """The AWS KeySpec of an EH_HMAC key of ``key_bytes`` bytes."""
    fitting = [name for name, size in HMAC_KEY_BYTES.items() if size <= key_bytes]
    return fitting[-1] if fitting else "HMAC_224"


def aws_spec(keyspec: str, mac_key_bytes: int | None = None) -> str:
    """The AWS KeySpec of a pyehsm key; ``mac_key_bytes``, given for an HMAC key only, names its HMAC_* spec (an
    EH_HMAC key without it reads as HMAC_256)."""
    if mac_key_bytes is not None:
        return hmac_spec(mac_key_bytes)
    return _REPORTED.get(keyspec, keyspec)


CREATABLE = (*CREATE_SPECS, *HMAC_KEY_BYTES)


def create_keyspec(aws_spec_name: str) -> KeySpec:
    """The keyspec CreateKey makes for an AWS KeySpec (an HMAC_* spec: EH_HMAC with that key length)."""
    if aws_spec_name in HMAC_KEY_BYTES:
        return dataclasses.replace(keyspec(_HMAC), key_bytes=HMAC_KEY_BYTES[aws_spec_name])
    return keyspec(CREATE_SPECS[aws_spec_name])


USAGES: dict[str, KeyUsage] = {
    "ENCRYPT_DECRYPT": KeyUsage.ENCRYPT_DECRYPT,
    "SIGN_VERIFY": KeyUsage.SIGN_VERIFY,
    "GENERATE_VERIFY_MAC": KeyUsage.SIGN_VERIFY,  # pyehsm's HMAC keys have the sign/verify usage
}
ALL_USAGES = ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT")
_USAGE_NAMES = {KeyUsage.ENCRYPT_DECRYPT.value: "ENCRYPT_DECRYPT", KeyUsage.SIGN_VERIFY.value: "SIGN_VERIFY"}


def aws_usage(keyusage: str, keyspec: str) -> str:
    return "GENERATE_VERIFY_MAC" if aws_spec(keyspec).startswith("HMAC_") else _USAGE_NAMES.get(keyusage, keyusage)


ORIGINS: dict[str, Origin] = {"AWS_KMS": Origin.INTERNAL, "EXTERNAL": Origin.EXTERNAL}
ALL_ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
_ORIGIN_NAMES = {v.value: k for k, v in ORIGINS.items()}


def aws_origin(origin: str) -> str:
    return _ORIGIN_NAMES.get(origin, origin)


STATES = {
    KeyState.ENABLED: "Enabled",
    KeyState.DISABLED: "Disabled",
    KeyState.PENDING_IMPORT: "PendingImport",
    KeyState.PENDING_DELETION: "PendingDeletion",
}

# Signing: AWS algorithm -> (pyehsm digest, pyehsm padding)
SIGNING: dict[str, tuple[str, str | None]] = {
    "RSASSA_PSS_SHA_256": ("EH_SHA_256", "EH_RSA_PKCS1_PSS"),
    "RSASSA_PSS_SHA_384": ("EH_SHA_384", "EH_RSA_PKCS1_PSS"),
    "RSASSA_PSS_SHA_512": ("EH_SHA_512", "EH_RSA_PKCS1_PSS"),
    "RSASSA_PKCS1_V1_5_SHA_256": ("EH_SHA_256", "EH_RSA_PKCS1"),
    "RSASSA_PKCS1_V1_5_SHA_384": ("EH_SHA_384", "EH_RSA_PKCS1"),
    "RSASSA_PKCS1_V1_5_SHA_512": ("EH_SHA_512", "EH_RSA_PKCS1"),
    "ECDSA_SHA_256": ("EH_SHA_256", None),
    "ECDSA_SHA_384": ("EH_SHA_384", None),
    "ECDSA_SHA_512": ("EH_SHA_512", None),
    "SM2DSA": ("EH_SM3", None),
    # pure ML-DSA over a RAW message (empty context) or an EXTERNAL_MU (the 64-byte mu); the digest named here
    # is unused by the family (SHAKE256 inside)
    "ML_DSA_SHAKE_256": ("EH_SHA_256", None),
    "ED25519_SHA_512": ("EH_SHA_512", None),  # PureEdDSA (RFC 8032) over the RAW message
}
ALL_SIGNING = (*SIGNING, "ED25519_PH_SHA_512")  # Ed25519ph: not offered
_RSA_SIGNING = tuple(name for name in SIGNING if name.startswith("RSASSA"))
SIGNING_BY_SPEC: dict[str, tuple[str, ...]] = {
    "EH_RSA_2048": _RSA_SIGNING,
    "EH_RSA_3072": _RSA_SIGNING,
    "EH_RSA_4096": _RSA_SIGNING,
    "EH_EC_P224": ("ECDSA_SHA_256",),
    "EH_EC_P256": ("ECDSA_SHA_256",),
    "EH_EC_P256K": ("ECDSA_SHA_256",),
    "EH_EC_P384": ("ECDSA_SHA_384",),
    "EH_EC_P521": ("ECDSA_SHA_512",),
    "EH_SM2": ("SM2DSA",),
    "EH_ML_DSA_44": ("ML_DSA_SHAKE_256",),
    "EH_ML_DSA_65": ("ML_DSA_SHAKE_256",),
    "EH_ML_DSA_87": ("ML_DSA_SHAKE_256",),
    "EH_ED25519": ("ED25519_SHA_512",),
}

# Encryption: AWS algorithm -> pyehsm padding (None: the symmetric door, or SM2 which takes none).
# RSAES_OAEP_SHA_1 is a padding the RSA family takes without an eHSM name (crypto/rsa.py OAEP_SHA1).
SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ASYMMETRIC_ENCRYPTION: dict[str, str | None] = {
    "RSAES_OAEP_SHA_1": OAEP_SHA1,
    "RSAES_OAEP_SHA_256": "EH_RSA_PKCS1_OAEP",
    "SM2PKE": None,
}
ALL_ENCRYPTION = (SYMMETRIC_DEFAULT, "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
ENCRYPTION_BY_SPEC: dict[str, tuple[str, ...]] = {
    "EH_RSA_2048": _RSA_ENCRYPTION,
    "EH_RSA_3072": _RSA_ENCRYPTION,
    "EH_RSA_4096": _RSA_ENCRYPTION,
    "EH_SM2": ("SM2PKE",),
}


def encryption_algorithms(keyspec: str) -> tuple[str, ...]:
    return ENCRYPTION_BY_SPEC.get(keyspec, (SYMMETRIC_DEFAULT,))


# Import: AWS wrapping algorithm -> pyehsm padding
WRAPPING: dict[str, str] = {
    "RSAES_OAEP_SHA_256": "EH_RSA_PKCS1_OAEP",
    "RSA_AES_KEY_WRAP_SHA_256": "EH_RSA_AES_KEY_WRAP",
    "RSAES_OAEP_SHA_1": "EH_RSA_PKCS1_OAEP_SHA1",
    "RSA_AES_KEY_WRAP_SHA_1": "EH_RSA_AES_KEY_WRAP_SHA1",
}
ALL_WRAPPING = ("RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", *WRAPPING)
ALL_WRAPPING = tuple(dict.fromkeys(ALL_WRAPPING))
WRAPPING_SPECS = {"RSA_2048": "EH_RSA_2048", "RSA_3072": "EH_RSA_3072", "RSA_4096": "EH_RSA_4096"}


# GenerateDataKeyPair(WithoutPlaintext): AWS KeyPairSpec -> pyehsm keyspec
DATA_KEY_PAIR_SPECS: dict[str, str] = {
    name: CREATE_SPECS[name]
    for name in (
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SM2",
        "ECC_NIST_EDWARDS25519",
    )
}
ALL_KEY_PAIR_SPECS = (*DATA_KEY_PAIR_SPECS, "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024")


def usage_fits(aws_spec_name: str, usage: str | None) -> bool:
    """AWS's pairing of KeySpec and KeyUsage (CreateKey): EC keys sign only, RSA and SM2 do either, HMAC keys
    generate and verify MACs only."""
    if aws_spec_name in HMAC_KEY_BYTES:
        return usage == "GENERATE_VERIFY_MAC"
    if usage == "GENERATE_VERIFY_MAC":
        return False
    name = CREATE_SPECS[aws_spec_name]
    if usage == "SIGN_VERIFY":
        return name in SIGNING_BY_SPEC
    if usage == "ENCRYPT_DECRYPT":
        return name in ENCRYPTION_BY_SPEC or aws_spec_name == "SYMMETRIC_DEFAULT"
    return False


MESSAGE_TYPES = {"RAW": "EH_RAW", "DIGEST": "EH_DIGEST", "EXTERNAL_MU": "EH_EXTERNAL_MU"}  # AWS -> pyehsm
