"""The keyspec registry: every keyspec of the reference, its family, sizes, defaults and abilities."""

from __future__ import annotations

from typing import get_args

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pyehsm.crypto.family import MAC_ALGORITHMS, MacFamily, MacKey
from pyehsm.crypto.keyspecs import (
    ASYMMETRIC_KEYSPEC_NAMES,
    KEYSPEC_NAMES,
    KEYSPECS,
    ORIGIN_NAMES,
    USAGE_NAMES,
    Family,
    KeySpecName,
    KeyUsage,
    Operation,
    Origin,
    generate_material,
    is_slow,
    keyspec,
)
from pyehsm.crypto.sm2 import SM2PrivateKey

# Intel's eHSM-KMS API reference, CreateKey: "it can be the following one" (15 names).
REFERENCE_KEYSPECS = [
    "EH_AES_GCM_128",
    "EH_AES_GCM_192",
    "EH_AES_GCM_256",
    "EH_RSA_2048",
    "EH_RSA_3072",
    "EH_RSA_4096",
    "EH_EC_P224",
    "EH_EC_P256",
    "EH_EC_P256K",
    "EH_EC_P384",
    "EH_EC_P521",
    "EH_SM2",
    "EH_SM4_CTR",
    "EH_SM4_CBC",
    "EH_HMAC",
]
# Added by pyehsm (issue 23): post-quantum and modern keys, beyond the reference's 15.
PYEHSM_KEYSPECS = [
    "EH_ML_DSA_44",
    "EH_ML_DSA_65",
    "EH_ML_DSA_87",
    "EH_ED25519",
    "EH_ML_KEM_768",
    "EH_ML_KEM_1024",
    "EH_X25519",
]
ALL_KEYSPECS = REFERENCE_KEYSPECS + PYEHSM_KEYSPECS

# name -> (family, symmetric key bytes, RSA bits, EC curve name, default usage)
EXPECTED = {
    "EH_AES_GCM_128": (Family.AES_GCM, 16, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_AES_GCM_192": (Family.AES_GCM, 24, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_AES_GCM_256": (Family.AES_GCM, 32, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_SM4_CTR": (Family.SM4_CTR, 16, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_SM4_CBC": (Family.SM4_CBC, 16, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_HMAC": (Family.HMAC, 32, 0, "", KeyUsage.SIGN_VERIFY),
    "EH_RSA_2048": (Family.RSA, 0, 2048, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_RSA_3072": (Family.RSA, 0, 3072, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_RSA_4096": (Family.RSA, 0, 4096, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_EC_P224": (Family.EC, 0, 0, "secp224r1", KeyUsage.SIGN_VERIFY),
    "EH_EC_P256": (Family.EC, 0, 0, "secp256r1", KeyUsage.SIGN_VERIFY),
    "EH_EC_P256K": (Family.EC, 0, 0, "secp256k1", KeyUsage.SIGN_VERIFY),
    "EH_EC_P384": (Family.EC, 0, 0, "secp384r1", KeyUsage.SIGN_VERIFY),
    "EH_EC_P521": (Family.EC, 0, 0, "secp521r1", KeyUsage.SIGN_VERIFY),
    "EH_SM2": (Family.SM2, 0, 0, "", KeyUsage.ENCRYPT_DECRYPT),
    "EH_ML_DSA_44": (Family.ML_DSA, 0, 0, "", KeyUsage.SIGN_VERIFY),
    "EH_ML_DSA_65": (Family.ML_DSA, 0, 0, "", KeyUsage.SIGN_VERIFY),
    "EH_ML_DSA_87": (Family.ML_DSA, 0, 0, "", KeyUsage.SIGN_VERIFY),
    "EH_ED25519": (Family.ED25519, 0, 0, "", KeyUsage.SIGN_VERIFY),
    "EH_ML_KEM_768": (Family.ML_KEM, 0, 0, "", KeyUsage.KEY_AGREEMENT),
    "EH_ML_KEM_1024": (Family.ML_KEM, 0, 0, "", KeyUsage.KEY_AGREEMENT),
    "EH_X25519": (Family.X25519, 0, 0, "", KeyUsage.KEY_AGREEMENT),
}
# Families whose generation takes microseconds: the key pool leaves them alone.
FAST_KEY_PAIRS = {Family.ML_DSA, Family.ED25519, Family.ML_KEM, Family.X25519}

# Which operations the algorithm can do at all (independent of the stored usage).
ABILITIES = {
    Family.AES_GCM: {Operation.ENCRYPT},
    Family.SM4_CTR: {Operation.ENCRYPT},
    Family.SM4_CBC: {Operation.ENCRYPT},
    Family.HMAC: {Operation.SIGN, Operation.GENERATE_MAC, Operation.VERIFY_MAC},
    Family.RSA: {Operation.ASYMMETRIC_ENCRYPT, Operation.SIGN, Operation.PUBLIC_KEY},
    Family.EC: {Operation.SIGN, Operation.PUBLIC_KEY, Operation.DERIVE_SHARED_SECRET},
    Family.SM2: {Operation.ASYMMETRIC_ENCRYPT, Operation.SIGN, Operation.PUBLIC_KEY},
    Family.ML_DSA: {Operation.SIGN, Operation.PUBLIC_KEY},
    Family.ED25519: {Operation.SIGN, Operation.PUBLIC_KEY},
    Family.ML_KEM: {Operation.ENCAPSULATE, Operation.PUBLIC_KEY},
    Family.X25519: {Operation.DERIVE_SHARED_SECRET, Operation.PUBLIC_KEY},
}


def test_every_reference_keyspec_is_registered_and_nothing_else() -> None:
    assert sorted(KEYSPECS) == sorted(ALL_KEYSPECS)
    assert sorted(KEYSPEC_NAMES) == sorted(ALL_KEYSPECS)
    assert sorted(get_args(KeySpecName)) == sorted(ALL_KEYSPECS)
    assert sorted(ASYMMETRIC_KEYSPEC_NAMES) == sorted(n for n in ALL_KEYSPECS if EXPECTED[n][1] == 0)


@pytest.mark.parametrize("name", ALL_KEYSPECS)
def test_keyspec_facts(name: str) -> None:
    family, key_bytes, rsa_bits, curve, usage = EXPECTED[name]
    spec = keyspec(name)
    assert spec.name == name
    assert spec.family is family
    assert spec.key_bytes == key_bytes
    assert spec.rsa_bits == rsa_bits
    assert spec.curve == curve
    assert spec.default_usage is usage
    assert spec.symmetric == (key_bytes > 0)
    assert is_slow(spec) == (not spec.symmetric and family not in FAST_KEY_PAIRS)
    for op in Operation:
        assert spec.supports(op) == (op in ABILITIES[family]), (name, op)
    assert spec.default_digest == {Family.SM2: "EH_SM3", Family.ED25519: "EH_SHA_512"}.get(family, "EH_SHA_256")
    if spec.symmetric and family is not Family.HMAC:
        assert spec.import_sizes == (key_bytes,)


def test_unknown_keyspec() -> None:
    with pytest.raises(KeyError):
        keyspec("EH_AES_GCM_512")
    with pytest.raises(KeyError):
        keyspec("eh_aes_gcm_128")


def test_usable_usages_are_derived_from_the_operations() -> None:
    """CreateKey refuses a keyusage that no operation of the keyspec could use (services/keys.py)."""
    both = (KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY)
    expected = {
        **dict.fromkeys(("EH_AES_GCM_128", "EH_AES_GCM_192", "EH_AES_GCM_256", "EH_SM4_CTR", "EH_SM4_CBC"), (both[0],)),
        "EH_HMAC": (KeyUsage.SIGN_VERIFY,),
        **dict.fromkeys(("EH_RSA_2048", "EH_RSA_3072", "EH_RSA_4096", "EH_SM2"), both),
        # EC: KEY_AGREEMENT for ECDH (DeriveSharedSecret) as well
        **dict.fromkeys(
            ("EH_EC_P224", "EH_EC_P256", "EH_EC_P256K", "EH_EC_P384", "EH_EC_P521"), (*both, KeyUsage.KEY_AGREEMENT)
        ),
        # GetPublicKey wants no usage, so signing-only key pairs allow both (as EC does)
        **dict.fromkeys(("EH_ML_DSA_44", "EH_ML_DSA_65", "EH_ML_DSA_87", "EH_ED25519"), both),
        # ML-KEM: KEY_AGREEMENT for Encapsulate/Decapsulate, and the reference's two for GetPublicKey only
        **dict.fromkeys(("EH_ML_KEM_768", "EH_ML_KEM_1024", "EH_X25519"), (*both, KeyUsage.KEY_AGREEMENT)),
    }
    assert {name: spec.usable_usages() for name, spec in KEYSPECS.items()} == expected
    assert all(spec.allows_usage(spec.default_usage) for spec in KEYSPECS.values())
    assert not KEYSPECS["EH_AES_GCM_256"].allows_usage(KeyUsage.SIGN_VERIFY)
    assert not KEYSPECS["EH_HMAC"].allows_usage(KeyUsage.ENCRYPT_DECRYPT)


def test_usages_origins_and_operation_usage() -> None:
    assert set(USAGE_NAMES) == {"EH_KEYUSAGE_ENCRYPT_DECRYPT", "EH_KEYUSAGE_SIGN_VERIFY", "EH_KEYUSAGE_KEY_AGREEMENT"}
    assert set(ORIGIN_NAMES) == {"EH_INTERNAL_KEY", "EH_EXTERNAL_KEY"}
    assert Origin("EH_EXTERNAL_KEY") is Origin.EXTERNAL
    assert Operation.ENCRYPT.usage is KeyUsage.ENCRYPT_DECRYPT
    assert Operation.ASYMMETRIC_ENCRYPT.usage is KeyUsage.ENCRYPT_DECRYPT
    assert Operation.SIGN.usage is KeyUsage.SIGN_VERIFY
    assert Operation.PUBLIC_KEY.usage is None
    assert Operation.ENCAPSULATE.usage is KeyUsage.KEY_AGREEMENT


@pytest.mark.parametrize("name", [n for n in REFERENCE_KEYSPECS if n not in ("EH_RSA_3072", "EH_RSA_4096")])
def test_generated_material_fits_the_keyspec(name: str) -> None:
    spec = keyspec(name)
    first, second = generate_material(spec), generate_material(spec)
    assert first != second
    if spec.symmetric:
        assert len(first) == spec.key_bytes
    elif spec.family is Family.RSA:
        key = serialization.load_der_private_key(first, None)
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == spec.rsa_bits
        assert key.private_numbers().public_numbers.e == 65537
    elif spec.family is Family.EC:
        key = serialization.load_der_private_key(first, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == spec.curve
    else:
        sm2_key = SM2PrivateKey.from_pkcs8_der(first)  # refuses anything that is not an SM2 key
        assert sm2_key.public_key().verify(sm2_key.sign(b"m"), b"m")


def test_only_mac_families_take_mac_operations() -> None:
    """GenerateMac/VerifyMac are a family capability (MacFamily), not a keyspec switch in the service."""
    for spec in KEYSPECS.values():
        mac = spec.supports(Operation.GENERATE_MAC)
        assert mac == spec.supports(Operation.VERIFY_MAC) == isinstance(spec.family, MacFamily), spec.name
        if mac:
            assert isinstance(spec.load(spec.family.generate(spec)), MacKey)
            assert set(spec.family.mac_algorithms) == set(MAC_ALGORITHMS)  # type: ignore[attr-defined]
