"""Wycheproof vectors through pyehsm's post-quantum and Edwards families: ML-DSA-44/65/87 verification
(valid and invalid signatures, context strings), ML-DSA signing from an imported 32-byte seed, and Ed25519
verification.

ML-DSA signing in pyehsm is hedged (FIPS 204's randomized default), so the vectors' deterministic signatures
cannot be reproduced byte for byte: for every sign-seed case the seed is imported the way BYOK imports it,
the derived public key must equal the vector's, the vector's signature must verify under the imported key
(pure, or over the external mu for the ``Internal`` cases that give only mu), and pyehsm's own signature of
the same input must verify under the vector's public key. Every ``valid`` case must pass, every ``invalid``
one must be refused; nothing may raise anything but the documented errors.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa

from pyehsm.crypto.family import KeyMaterialError
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.crypto.mldsa import ML_DSA, MlDsaPair, MlDsaPublic
from tests.vectors import wycheproof_cases

SETS = {"44": "EH_ML_DSA_44", "65": "EH_ML_DSA_65", "87": "EH_ML_DSA_87"}
PUBLIC_CLASSES = {"44": mldsa.MLDSA44PublicKey, "65": mldsa.MLDSA65PublicKey, "87": mldsa.MLDSA87PublicKey}

Case = tuple[dict[str, Any], dict[str, Any]]


def check(cases: list[Case], accepted: Any) -> tuple[int, list[str]]:
    failures = []
    for group, test in cases:
        ok = accepted(group, test)
        if (test["result"] == "valid" and not ok) or (test["result"] == "invalid" and ok):
            failures.append(f"tcId {test['tcId']} ({test['result']}, {test['comment']!r}, {test['flags']})")
    return len(cases), failures


@pytest.mark.parametrize("size", sorted(SETS))
def test_mldsa_verify_vectors(size: str) -> None:
    spec = keyspec(SETS[size])

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        try:
            public = ML_DSA.load_public(spec, bytes.fromhex(group["publicKeyDer"]))
        except KeyMaterialError:
            return False
        context = bytes.fromhex(test.get("ctx", ""))
        if len(context) > 255:
            return False  # the API refuses it before it reaches the key (a payload limit)
        return public.verify_pure(bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]), context=context, mu=False)

    cases = wycheproof_cases(f"mldsa_{size}_verify_test")
    count, failures = check(cases, accepted)
    assert failures == []
    assert count > 150
    assert any(t.get("ctx") for _, t in cases)  # context strings are covered
    assert {t["result"] for _, t in cases} == {"valid", "invalid"}


@pytest.mark.parametrize("size", sorted(SETS))
def test_mldsa_sign_from_seed_vectors(size: str) -> None:
    spec = keyspec(SETS[size])

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        try:
            stored = ML_DSA.check_import(spec, bytes.fromhex(group["privateSeed"]))
        except ValueError:
            return False
        pair = ML_DSA.load_private(spec, stored)
        assert isinstance(pair, MlDsaPair)
        expected_public = bytes.fromhex(group["publicKey"])
        assert pair.public_raw() == expected_public
        vector_public = MlDsaPublic(PUBLIC_CLASSES[size].from_public_bytes(expected_public))
        context = bytes.fromhex(test.get("ctx", ""))
        if len(context) > 255:
            return False  # refused by the payload limit
        signature = bytes.fromhex(test["sig"])
        if "msg" in test:
            message = bytes.fromhex(test["msg"])
            ours = pair.sign_pure(message, context=context, mu=False)
            return pair.verify_pure(signature, message, context=context, mu=False) and vector_public.verify_pure(
                ours, message, context=context, mu=False
            )
        mu = bytes.fromhex(test["mu"])
        ours = pair.sign_pure(mu, context=b"", mu=True)
        return pair.verify_pure(signature, mu, context=b"", mu=True) and vector_public.verify_pure(
            ours, mu, context=b"", mu=True
        )

    cases = wycheproof_cases(f"mldsa_{size}_sign_seed_test")
    count, failures = check(cases, accepted)
    assert failures == []
    assert count > 50
    assert any("mu" in t and "msg" not in t for _, t in cases)  # external-mu cases are covered


@pytest.mark.parametrize("size", sorted(SETS))
def test_mldsa_external_mu_equals_pure_signing(size: str) -> None:
    """A signature over mu (FIPS 204 Algorithm 7 line 6) verifies as a pure signature of the message, and back."""
    cases = wycheproof_cases(f"mldsa_{size}_sign_seed_test")
    group, test = next((g, t) for g, t in cases if "msg" in t and "mu" in t and t["result"] == "valid")
    spec = keyspec(SETS[size])
    pair = ML_DSA.load_private(spec, ML_DSA.check_import(spec, bytes.fromhex(group["privateSeed"])))
    message, mu, context = bytes.fromhex(test["msg"]), bytes.fromhex(test["mu"]), bytes.fromhex(test.get("ctx", ""))
    assert pair.verify_pure(pair.sign_pure(mu, context=b"", mu=True), message, context=context, mu=False)
    assert pair.verify_pure(pair.sign_pure(message, context=context, mu=False), mu, context=b"", mu=True)
    assert not pair.verify_pure(pair.sign_pure(message, context=context, mu=False), message, context=b"x", mu=False)


def test_ed25519_verify_vectors() -> None:
    spec = keyspec("EH_ED25519")

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        try:
            public = spec.family.load_public(spec, bytes.fromhex(group["publicKeyDer"]))  # type: ignore[attr-defined]
        except KeyMaterialError:
            return False
        ok: bool = public.verify(
            bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]), digest="EH_SHA_512", prehashed=False, padding=None
        )
        return ok

    count, failures = check(wycheproof_cases("ed25519_test"), accepted)
    assert failures == []
    assert count > 100


@pytest.mark.parametrize("size", ["768", "1024"])
def test_mlkem_decapsulation_vectors(size: str) -> None:
    """Import the 64-byte seed (d || z) as BYOK does, check the encapsulation key, decapsulate: valid cases give K,
    including random and bit-flipped ciphertexts (the FIPS 203 implicit-rejection value); wrong seed or
    ciphertext lengths are refused."""
    from pyehsm.crypto.mlkem import ML_KEM
    from pyehsm.errors import MalformedParameter

    spec = keyspec(f"EH_ML_KEM_{size}")

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        try:
            stored = ML_KEM.check_import(spec, bytes.fromhex(test["seed"]))
        except ValueError:
            return False
        pair = ML_KEM.load_private(spec, stored)
        if test.get("ek"):
            public: Any = pair  # the encapsulation key derived from the seed is the vector's
            assert ML_KEM.load_public(spec, _spki(public)).public_pem() == pair.public_pem()
            assert _raw_ek(pair) == bytes.fromhex(test["ek"])
        try:
            shared = pair.decapsulate(bytes.fromhex(test["c"]))
        except MalformedParameter:
            return False
        return bool(shared == bytes.fromhex(test["K"]))

    cases = wycheproof_cases(f"mlkem_{size}_test")
    count, failures = check(cases, accepted)
    assert failures == []
    assert count > 150
    assert any("Bit flipped" in t.get("comment", "") for _, t in cases)


def _spki(pair: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pair.public_pem().encode())
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _raw_ek(pair: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key: Any = serialization.load_pem_public_key(pair.public_pem().encode())
    raw: bytes = key.public_bytes_raw()
    return raw


ECDH_FILES = {
    "ecdh_secp224r1_test": "EH_EC_P224",
    "ecdh_secp256r1_test": "EH_EC_P256",
    "ecdh_secp256k1_test": "EH_EC_P256K",
    "ecdh_secp384r1_test": "EH_EC_P384",
    "ecdh_secp521r1_test": "EH_EC_P521",
}


@pytest.mark.parametrize("name", sorted(ECDH_FILES))
def test_ecdh_vectors(name: str) -> None:
    """DeriveSharedSecret's primitive with the vector's private scalar (imported as PKCS#8 as BYOK does) and the
    peer's DER SubjectPublicKeyInfo: valid cases give the shared secret; invalid peer keys (points off the curve,
    other curves, bad encodings) are refused with MalformedParameter; acceptable cases either way."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from pyehsm.crypto.ec import EC_CURVES
    from pyehsm.crypto.pkcs8 import PKCS8_ENCODING
    from pyehsm.errors import MalformedParameter

    spec = keyspec(ECDH_FILES[name])

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        scalar = int(test["private"], 16)
        private = ec.derive_private_key(scalar, EC_CURVES[spec.curve]())
        pair: Any = spec.load(spec.family.check_import(spec, private.private_bytes(*PKCS8_ENCODING)))
        try:
            shared = pair.derive_shared_secret(bytes.fromhex(test["public"]))
        except MalformedParameter:
            return False
        return bool(shared == bytes.fromhex(test["shared"]))

    cases = wycheproof_cases(name)
    count, failures = check(cases, accepted)
    assert count > 100
    assert failures == []
    assert sum(t["result"] == "invalid" for _, t in cases) > 10
