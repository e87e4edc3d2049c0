"""Wycheproof vectors through pyehsm's asymmetric crypto layer: RSA PKCS#1 v1.5 and OAEP decryption,
PKCS#1 v1.5 and PSS verification, ECDSA verification on all five curves, HMAC-SHA256.

Every ``valid`` case must be accepted, every ``invalid`` one rejected, ``acceptable`` ones may go
either way; nothing may raise anything but the layer's documented errors.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

from pyehsm.crypto.asymmetric import DecryptionFailed, KeyMaterialError, load_key, load_public_key
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.crypto.rsa import RsaDecryptionError, RsaEncryption, RsaPrivateKey, RsaPublicKey, RsaSignature
from tests.vectors import wycheproof_cases

RSA_SPECS = {2048: "EH_RSA_2048", 3072: "EH_RSA_3072", 4096: "EH_RSA_4096"}
SHA = {"SHA-224": "EH_SHA_224", "SHA-256": "EH_SHA_256", "SHA-384": "EH_SHA_384", "SHA-512": "EH_SHA_512"}
ECDSA_FILES = {
    "ecdsa_secp224r1_sha224_test": "EH_EC_P224",
    "ecdsa_secp256r1_sha256_test": "EH_EC_P256",
    "ecdsa_secp256k1_sha256_test": "EH_EC_P256K",
    "ecdsa_secp384r1_sha384_test": "EH_EC_P384",
    "ecdsa_secp521r1_sha512_test": "EH_EC_P521",
}
SIZES = (2048, 3072, 4096)

Case = tuple[dict[str, Any], dict[str, Any]]


def check(cases: list[Case], accepted: Any) -> tuple[int, list[str]]:
    """Run ``accepted(group, test) -> bool`` over all cases; (cases run, failures)."""
    failures = []
    for group, test in cases:
        ok = accepted(group, test)
        if (test["result"] == "valid" and not ok) or (test["result"] == "invalid" and ok):
            failures.append(f"tcId {test['tcId']} ({test['result']}, {test['comment']!r}, {test['flags']})")
    return len(cases), failures


# -------------------------------------------------------------------------------------------------
# RSA PKCS#1 v1.5 decryption, with implicit rejection
# -------------------------------------------------------------------------------------------------


def _prf(kdk: bytes, label: bytes, nbytes: int) -> bytes:
    out = b""
    bits = (nbytes * 8).to_bytes(2, "big")
    counter = 0
    while len(out) < nbytes:
        out += hmac.new(kdk, counter.to_bytes(2, "big") + label + bits, hashlib.sha256).digest()
        counter += 1
    return out[:nbytes]


def implicit_rejection_message(key: crypto_rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    """The synthetic plaintext an implicit-rejection decryptor returns for a bad-padding ciphertext
    (draft-irtf-cfrg-rsa-guidance, as OpenSSL >= 3.2 implements it), computed independently here."""
    k = (key.key_size + 7) // 8
    d_hash = hashlib.sha256(key.private_numbers().d.to_bytes(k, "big")).digest()
    kdk = hmac.new(d_hash, ciphertext.rjust(k, b"\0"), hashlib.sha256).digest()
    message = _prf(kdk, b"message", k)
    lengths = _prf(kdk, b"length", 256)
    max_len = k - 2 - 8
    mask = max_len
    for shift in (1, 2, 4, 8):
        mask |= mask >> shift
    length = 0
    for i in range(0, len(lengths), 2):
        candidate = int.from_bytes(lengths[i : i + 2], "big") & mask
        if candidate < max_len:
            length = candidate
    return message[k - length :]


@pytest.mark.parametrize("size", SIZES)
def test_rsa_pkcs1_decrypt(size: int) -> None:
    """Valid ciphertexts decrypt to the message. An invalid one either fails (wrong length) or, under
    implicit rejection, yields exactly the synthetic message: no error oracle and no real plaintext."""
    cases = wycheproof_cases(f"rsa_pkcs1_{size}_test")
    keys: dict[str, tuple[Any, Any]] = {}

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        der = bytes.fromhex(group["privateKeyPkcs8"])
        if group["privateKeyPkcs8"] not in keys:
            # The oracle's own copy of the key; pyehsm's load_key below validates it fully.
            pyca = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
            assert isinstance(pyca, crypto_rsa.RSAPrivateKey)
            keys[group["privateKeyPkcs8"]] = (load_key(keyspec(RSA_SPECS[pyca.key_size]), der), pyca)
        ours, pyca = keys[group["privateKeyPkcs8"]]
        ct = bytes.fromhex(test["ct"])
        try:
            pt = ours.decrypt(ct, "EH_RSA_PKCS1")
        except DecryptionFailed:
            return False
        if test["result"] == "valid":
            return bool(pt == bytes.fromhex(test["msg"]))
        # Accepted only if the output is anything but the implicit-rejection message.
        return bool(pt != implicit_rejection_message(pyca, ct))

    run, failures = check(cases, accepted)
    assert run > 40
    assert not failures, failures


# -------------------------------------------------------------------------------------------------
# RSA OAEP (SHA-256, MGF1-SHA-256) decryption
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_rsa_oaep_decrypt(size: int) -> None:
    """All cases through rsa.RsaPrivateKey (labels included); empty-label ones also through the
    keyspec primitive the service uses (pyehsm's OAEP has no label)."""
    cases = wycheproof_cases(f"rsa_oaep_{size}_sha256_mgf1sha256_test")
    keys: dict[str, tuple[RsaPrivateKey, Any]] = {}

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        der = bytes.fromhex(group["privateKeyPkcs8"])
        if group["privateKeyPkcs8"] not in keys:
            keys[group["privateKeyPkcs8"]] = (
                RsaPrivateKey.from_pkcs8_der(der),
                load_key(keyspec(RSA_SPECS[group["keySize"]]), der),
            )
        raw, primitive = keys[group["privateKeyPkcs8"]]
        ct, label, msg = bytes.fromhex(test["ct"]), bytes.fromhex(test["label"]), bytes.fromhex(test["msg"])
        try:
            pt = raw.decrypt(ct, RsaEncryption.OAEP, label=label)
        except RsaDecryptionError:
            pt = None
        if not label:
            try:
                via_primitive = primitive.decrypt(ct, "EH_RSA_PKCS1_OAEP")
            except DecryptionFailed:
                via_primitive = None
            assert via_primitive == pt, test["tcId"]
        return pt is not None and pt == msg

    run, failures = check(cases, accepted)
    assert run > 30
    assert not failures, failures


# -------------------------------------------------------------------------------------------------
# RSA signatures
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_rsa_pkcs1_verify(size: int) -> None:
    cases = wycheproof_cases(f"rsa_signature_{size}_sha256_test")

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        key = load_public_key(keyspec(RSA_SPECS[group["keySize"]]), bytes.fromhex(group["publicKeyDer"]))
        sig, msg = bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"])
        return key.verify(sig, msg, digest=SHA[group["sha"]], prehashed=False, padding="EH_RSA_PKCS1")

    run, failures = check(cases, accepted)
    assert run > 200
    assert not failures, failures


def _salt_length_only(test: dict[str, Any]) -> bool:
    return str(test["comment"]).startswith("s_len changed to")


@pytest.mark.parametrize("size", SIZES)
def test_rsa_pss_verify(size: int) -> None:
    """Strict (salt length = the group's sLen) through rsa.RsaPublicKey: every case as Wycheproof says.
    Through the service's primitive, PSS verification accepts any salt length on purpose (signers differ,
    PROTOCOL/interop); so exactly the cases that differ only in salt length are accepted there."""
    cases = wycheproof_cases(f"rsa_pss_{size}_sha256_mgf1_32_test")

    def strict(group: dict[str, Any], test: dict[str, Any]) -> bool:
        assert group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"] == "SHA-256"
        key = RsaPublicKey.from_spki_der(bytes.fromhex(group["publicKeyDer"]))
        sig, msg = bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"])
        return key.verify(sig, msg, hashes.SHA256(), RsaSignature.PSS, salt_length=group["sLen"])

    run, failures = check(cases, strict)
    assert run > 100
    assert not failures, failures

    def any_salt(group: dict[str, Any], test: dict[str, Any]) -> bool:
        key = load_public_key(keyspec(RSA_SPECS[group["keySize"]]), bytes.fromhex(group["publicKeyDer"]))
        sig, msg = bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"])
        return key.verify(sig, msg, digest="EH_SHA_256", prehashed=False, padding="EH_RSA_PKCS1_PSS")

    salt_only = [(g, t) for g, t in cases if _salt_length_only(t)]
    assert len(salt_only) >= 5
    for group, test in salt_only:
        assert test["result"] == "invalid"
        assert any_salt(group, test), test["tcId"]
    _, failures = check([(g, t) for g, t in cases if not _salt_length_only(t)], any_salt)
    assert not failures, failures


# -------------------------------------------------------------------------------------------------
# ECDSA
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "spec"), list(ECDSA_FILES.items()))
def test_ecdsa_verify(name: str, spec: str) -> None:
    cases = wycheproof_cases(name)

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        key = load_public_key(keyspec(spec), bytes.fromhex(group["publicKeyDer"]))
        sig, msg = bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"])
        digest = SHA[group["sha"]]
        ok = key.verify(sig, msg, digest=digest, prehashed=False, padding=None)
        # EH_DIGEST with the message's digest must give the same answer.
        h = hashlib.new(group["sha"].replace("-", "").lower(), msg).digest()
        assert key.verify(sig, h, digest=digest, prehashed=True, padding="EH_RSA_PKCS1") == ok
        return ok

    run, failures = check(cases, accepted)
    assert run > 400
    assert not failures, failures


def test_ecdsa_public_key_of_another_curve_is_refused() -> None:
    group, _ = wycheproof_cases("ecdsa_secp256r1_sha256_test")[0]
    with pytest.raises(KeyMaterialError):
        load_public_key(keyspec("EH_EC_P384"), bytes.fromhex(group["publicKeyDer"]))


# -------------------------------------------------------------------------------------------------
# HMAC (EH_HMAC keys' Sign/Verify)
# -------------------------------------------------------------------------------------------------


def test_hmac_sha256_verify() -> None:
    """Full-length tags as Wycheproof says; pyehsm never accepts a truncated tag."""
    cases = wycheproof_cases("hmac_sha256_test")

    def accepted(group: dict[str, Any], test: dict[str, Any]) -> bool:
        key = load_key(keyspec("EH_HMAC"), bytes.fromhex(test["key"]))
        tag, msg = bytes.fromhex(test["tag"]), bytes.fromhex(test["msg"])
        ok = key.verify(tag, msg, digest="EH_SHA_256", prehashed=False, padding=None)
        if ok:
            assert key.sign(msg, digest="EH_SHA_256", prehashed=False, padding=None) == tag
        return ok

    full = [(g, t) for g, t in cases if g["tagSize"] == 256]
    run, failures = check(full, accepted)
    assert run > 50
    assert not failures, failures
    truncated = [(g, t) for g, t in cases if g["tagSize"] < 256]
    assert truncated
    assert not any(accepted(g, t) for g, t in truncated)
