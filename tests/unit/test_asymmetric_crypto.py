"""The asymmetric crypto layer (pyehsm.crypto.asymmetric / rsa / ec): round trips for every family,
digest and message type, the parameter rules, plaintext limits and key loading."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from pyehsm.crypto import asymmetric
from pyehsm.crypto.asymmetric import (
    DecryptionFailed,
    KeyMaterialError,
    KeyPrimitive,
    PlaintextTooLong,
    load_key,
    load_public_key,
)
from pyehsm.crypto.keyspecs import DIGEST_SIZES, KEYSPECS, generate_material, keyspec
from pyehsm.crypto.rsa import RsaPublicKey, RsaSignature
from tests.support.ehsm import ehsm_raises

SHA2 = ("EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512")
EC_SPECS = ("EH_EC_P224", "EH_EC_P256", "EH_EC_P256K", "EH_EC_P384", "EH_EC_P521")
HASH_CLASSES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}
MSG = b"pyehsm asymmetric message"


def digest_of(name: str, message: bytes) -> bytes:
    h = hashes.Hash(HASH_CLASSES[name]())
    h.update(message)
    return h.finalize()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, KeyPrimitive]]:
    """(material, primitive) for RSA-2048, every EC curve, SM2 and HMAC."""
    out = {}
    for name in ("EH_RSA_2048", *EC_SPECS, "EH_SM2", "EH_HMAC"):
        material = generate_material(keyspec(name))
        out[name] = (material, load_key(keyspec(name), material))
    return out


def pub_of(key: KeyPrimitive, name: str) -> asymmetric.PublicKeyPrimitive:
    """The verify/encrypt primitive rebuilt from the key's published PEM only.

    RSA keys publish PKCS#1 (as Intel's server does), EC and SM2 keys SubjectPublicKeyInfo."""
    pem = key.public_pem()
    kind = "RSA PUBLIC KEY" if name.startswith("EH_RSA") else "PUBLIC KEY"
    assert pem.startswith(f"-----BEGIN {kind}-----\n") and pem.endswith(f"-----END {kind}-----\n")
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    if kind == "RSA PUBLIC KEY":  # PKCS#1 RSAPublicKey -> SubjectPublicKeyInfo, which load_public_key takes
        der = serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return load_public_key(keyspec(name), der)


# -------------------------------------------------------------------------------------------------
# signatures
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pad", ["EH_RSA_PKCS1", "EH_RSA_PKCS1_PSS"])
@pytest.mark.parametrize("digest", SHA2)
def test_rsa_sign_verify_raw_and_digest(keys: dict[str, tuple[bytes, KeyPrimitive]], pad: str, digest: str) -> None:
    _, key = keys["EH_RSA_2048"]
    public = pub_of(key, "EH_RSA_2048")
    raw_sig = key.sign(MSG, digest=digest, prehashed=False, padding=pad)
    dig_sig = key.sign(digest_of(digest, MSG), digest=digest, prehashed=True, padding=pad)
    assert len(raw_sig) == len(dig_sig) == 256
    for sig in (raw_sig, dig_sig):  # EH_RAW and EH_DIGEST are the same signature scheme
        assert public.verify(sig, MSG, digest=digest, prehashed=False, padding=pad)
        assert key.verify(sig, digest_of(digest, MSG), digest=digest, prehashed=True, padding=pad)
        assert not public.verify(sig, MSG + b"!", digest=digest, prehashed=False, padding=pad)
        other = "EH_RSA_PKCS1" if pad == "EH_RSA_PKCS1_PSS" else "EH_RSA_PKCS1_PSS"
        assert not public.verify(sig, MSG, digest=digest, prehashed=False, padding=other)
    # Independent check with cryptography directly on the public key from the PEM.
    pyca = serialization.load_pem_public_key(key.public_pem().encode())
    assert isinstance(pyca, crypto_rsa.RSAPublicKey)
    alg = HASH_CLASSES[digest]()
    if pad == "EH_RSA_PKCS1":
        pyca.verify(raw_sig, MSG, padding.PKCS1v15(), alg)
        assert raw_sig == dig_sig  # v1.5 is deterministic
    else:
        # PSS signs with salt length = digest length.
        pyca.verify(raw_sig, MSG, padding.PSS(padding.MGF1(alg), DIGEST_SIZES[digest]), alg)
        strict = RsaPublicKey.from_spki_der(
            pyca.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        assert strict.verify(raw_sig, MSG, alg, RsaSignature.PSS, salt_length=DIGEST_SIZES[digest])
        assert not strict.verify(raw_sig, MSG, alg, RsaSignature.PSS, salt_length=0)


def test_rsa_pss_verify_accepts_other_salt_lengths(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    material, key = keys["EH_RSA_2048"]
    pyca = serialization.load_der_private_key(material, None)
    assert isinstance(pyca, crypto_rsa.RSAPrivateKey)
    for salt in (0, 20, padding.PSS.MAX_LENGTH):
        sig = pyca.sign(MSG, padding.PSS(padding.MGF1(hashes.SHA384()), salt), hashes.SHA384())
        assert key.verify(sig, MSG, digest="EH_SHA_384", prehashed=False, padding="EH_RSA_PKCS1_PSS")


@pytest.mark.parametrize("name", EC_SPECS)
def test_ecdsa_sign_verify_every_digest(keys: dict[str, tuple[bytes, KeyPrimitive]], name: str) -> None:
    _, key = keys[name]
    public = pub_of(key, name)
    pyca = serialization.load_pem_public_key(key.public_pem().encode())
    assert isinstance(pyca, crypto_ec.EllipticCurvePublicKey)
    assert pyca.curve.name == KEYSPECS[name].curve
    for digest in SHA2:
        for pad in (None, "EH_RSA_PKCS1", "EH_PAD_NONE", "EH_RSA_PKCS1_OAEP"):  # padding is ignored for EC
            raw_sig = key.sign(MSG, digest=digest, prehashed=False, padding=pad)
            dig_sig = key.sign(digest_of(digest, MSG), digest=digest, prehashed=True, padding=pad)
            for sig in (raw_sig, dig_sig):
                assert sig[0] == 0x30  # DER SEQUENCE
                pyca.verify(sig, MSG, crypto_ec.ECDSA(HASH_CLASSES[digest]()))
                assert public.verify(sig, MSG, digest=digest, prehashed=False, padding=pad)
                assert public.verify(sig, digest_of(digest, MSG), digest=digest, prehashed=True, padding=None)
                assert not public.verify(sig, MSG[:-1], digest=digest, prehashed=False, padding=pad)
                assert not public.verify(sig[:-1], MSG, digest=digest, prehashed=False, padding=pad)
        # A signature over a digest computed with another hash does not verify.
        other = SHA2[(SHA2.index(digest) + 1) % 4]
        sig = key.sign(MSG, digest=digest, prehashed=False, padding=None)
        assert not public.verify(sig, MSG, digest=other, prehashed=False, padding=None)


def test_sm2_digest_signs_sm3_with_identity_over_the_given_bytes_like_raw(
    keys: dict[str, tuple[bytes, KeyPrimitive]],
) -> None:
    """Intel's server runs SM3-with-identity (id 1234567812345678) over the bytes it is given for EH_RAW and
    EH_DIGEST alike: an EH_DIGEST signature of d is over SM3(Z_A || d), not over d taken as the final e."""
    from pyehsm.crypto.sm2 import DEFAULT_USER_ID, SM2PublicKey

    _, key = keys["EH_SM2"]
    public = pub_of(key, "EH_SM2")
    raw_public = SM2PublicKey.from_pem(key.public_pem())
    d = digest_of("EH_SM3", MSG)  # what Intel's SDK tests send as an EH_DIGEST message
    dig_sig = key.sign(d, digest="EH_SM3", prehashed=True, padding=None)
    raw_sig = key.sign(d, digest="EH_SM3", prehashed=False, padding="EH_RSA_PKCS1")
    for sig in (dig_sig, raw_sig):  # the two message types sign the same value
        assert raw_public.verify(sig, d, DEFAULT_USER_ID)  # SM3(Z_A || d)
        assert public.verify(sig, d, digest="EH_SM3", prehashed=True, padding="EH_PAD_NONE")
        assert public.verify(sig, d, digest="EH_SM3", prehashed=False, padding=None)
        assert not raw_public.verify_digest(sig, d)  # d is not the final e
        assert not public.verify(sig, MSG, digest="EH_SM3", prehashed=False, padding=None)
    # A signature whose e is SM3(Z_A || MSG) (EH_RAW of MSG) is not an EH_DIGEST signature of SM3(MSG) nor
    # of that e: EH_DIGEST no longer takes the final e.
    msg_sig = key.sign(MSG, digest="EH_SM3", prehashed=False, padding=None)
    e = raw_public.z_digest(MSG, DEFAULT_USER_ID)
    assert public.verify(msg_sig, MSG, digest="EH_SM3", prehashed=False, padding=None)
    assert not public.verify(msg_sig, d, digest="EH_SM3", prehashed=True, padding=None)
    assert not public.verify(msg_sig, e, digest="EH_SM3", prehashed=True, padding=None)
    assert not public.verify(b"\x30\x03garbage", MSG, digest="EH_SM3", prehashed=False, padding=None)
    with ehsm_raises(match="must be 32 bytes"):  # EH_DIGEST still takes an SM3 digest
        key.sign(MSG, digest="EH_SM3", prehashed=True, padding=None)


RFC4231_KEY = b"Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_TAGS = {  # RFC 4231 test case 2
    "EH_SHA_224": "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
    "EH_SHA_256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "EH_SHA_384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
    "EH_SHA_512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}


def test_hmac_known_answers() -> None:
    key = load_key(keyspec("EH_HMAC"), RFC4231_KEY)
    for digest, tag in RFC4231_TAGS.items():
        assert key.sign(RFC4231_DATA, digest=digest, prehashed=False, padding="EH_RSA_PKCS1").hex() == tag
        assert key.verify(bytes.fromhex(tag), RFC4231_DATA, digest=digest, prehashed=False, padding=None)
        bad = bytearray.fromhex(tag)
        bad[-1] ^= 1
        assert not key.verify(bytes(bad), RFC4231_DATA, digest=digest, prehashed=False, padding=None)
        assert not key.verify(bytes.fromhex(tag)[:16], RFC4231_DATA, digest=digest, prehashed=False, padding=None)
    sm3_tag = key.sign(RFC4231_DATA, digest="EH_SM3", prehashed=False, padding=None)
    assert len(sm3_tag) == 32
    assert key.verify(sm3_tag, RFC4231_DATA, digest="EH_SM3", prehashed=False, padding=None)


# -------------------------------------------------------------------------------------------------
# parameter rules
# -------------------------------------------------------------------------------------------------


def test_digest_length_checked_for_eh_digest(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    cases = [
        ("EH_RSA_2048", "EH_SHA_256", "EH_RSA_PKCS1"),
        ("EH_EC_P384", "EH_SHA_384", None),
        ("EH_SM2", "EH_SM3", None),
    ]
    for name, digest, pad in cases:
        _, key = keys[name]
        size = DIGEST_SIZES[digest]
        for wrong in (size - 1, size + 1, 1):
            with ehsm_raises(match="The message length error"):
                key.sign(b"\x01" * wrong, digest=digest, prehashed=True, padding=pad)
            with ehsm_raises(match="The message length error"):
                key.verify(b"sig", b"\x01" * wrong, digest=digest, prehashed=True, padding=pad)


def test_digest_mode_rules(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    for name in ("EH_RSA_2048", "EH_EC_P256"):
        with ehsm_raises(match="EH_SM3 cannot be used with"):
            keys[name][1].sign(MSG, digest="EH_SM3", prehashed=False, padding="EH_RSA_PKCS1")
    for digest in SHA2:
        with ehsm_raises(match=f"{digest} cannot be used with SM2"):
            keys["EH_SM2"][1].sign(MSG, digest=digest, prehashed=False, padding=None)
        with ehsm_raises(match=f"{digest} cannot be used with SM2"):
            keys["EH_SM2"][1].verify(b"s", MSG, digest=digest, prehashed=False, padding=None)
    with ehsm_raises(match="EH_DIGEST cannot be used with HMAC"):
        keys["EH_HMAC"][1].sign(b"\0" * 32, digest="EH_SHA_256", prehashed=True, padding=None)


def test_rsa_padding_rules(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    _, key = keys["EH_RSA_2048"]
    for bad in ("EH_PAD_NONE", "EH_RSA_PKCS1_OAEP"):
        with ehsm_raises(match=f"padding_mode {bad} cannot be used for RSA signatures"):
            key.sign(MSG, digest="EH_SHA_256", prehashed=False, padding=bad)
        with ehsm_raises(match="RSA signatures"):
            key.verify(b"s", MSG, digest="EH_SHA_256", prehashed=False, padding=bad)
    for bad in ("EH_PAD_NONE", "EH_RSA_PKCS1_PSS"):
        with ehsm_raises(match=f"padding_mode {bad} cannot be used for RSA encryption"):
            key.encrypt(MSG, bad)
        with ehsm_raises(match="RSA encryption"):
            key.decrypt(b"\0" * 256, bad)
    with ehsm_raises(match="padding_mode cannot be empty"):
        key.sign(MSG, digest="EH_SHA_256", prehashed=False, padding=None)
    with ehsm_raises(match="padding_mode cannot be empty"):
        key.encrypt(MSG, None)


def test_families_without_encryption_or_public_key(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    for name in ("EH_EC_P256", "EH_HMAC"):
        with ehsm_raises(match="cannot encrypt"):
            keys[name][1].encrypt(MSG, "EH_RSA_PKCS1")
        with ehsm_raises(match="cannot encrypt"):
            keys[name][1].decrypt(MSG, "EH_RSA_PKCS1")
    with ehsm_raises(match="no public key"):
        keys["EH_HMAC"][1].public_pem()


# -------------------------------------------------------------------------------------------------
# encryption
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pad", "limit"), [("EH_RSA_PKCS1", 256 - 11), ("EH_RSA_PKCS1_OAEP", 256 - 66)])
def test_rsa_encrypt_limits_and_round_trip(keys: dict[str, tuple[bytes, KeyPrimitive]], pad: str, limit: int) -> None:
    material, key = keys["EH_RSA_2048"]
    public = pub_of(key, "EH_RSA_2048")
    for size in (1, limit):
        pt = bytes(range(256))[:size]
        ct = public.encrypt(pt, pad)
        assert len(ct) == 256
        assert key.decrypt(ct, pad) == pt
    with pytest.raises(PlaintextTooLong) as info:
        public.encrypt(b"x" * (limit + 1), pad)
    assert info.value.max_bytes == limit
    # OAEP is SHA-256 + MGF1-SHA-256: cryptography decrypts it with exactly those parameters.
    if pad == "EH_RSA_PKCS1_OAEP":
        pyca = serialization.load_der_private_key(material, None)
        assert isinstance(pyca, crypto_rsa.RSAPrivateKey)
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        assert pyca.decrypt(key.encrypt(b"oaep", pad), oaep) == b"oaep"


def test_rsa_decrypt_failures(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    _, key = keys["EH_RSA_2048"]
    ct = key.encrypt(b"secret", "EH_RSA_PKCS1_OAEP")
    tampered = bytes([ct[0] ^ 1]) + ct[1:]
    with pytest.raises(DecryptionFailed):
        key.decrypt(tampered, "EH_RSA_PKCS1_OAEP")
    for wrong_length in (ct[:-1], ct + b"\0", b"\0" + ct):
        with pytest.raises(DecryptionFailed):
            key.decrypt(wrong_length, "EH_RSA_PKCS1_OAEP")
        with pytest.raises(DecryptionFailed):
            key.decrypt(wrong_length, "EH_RSA_PKCS1")
    # PKCS#1 v1.5: implicit rejection. A bad ciphertext gives a deterministic synthetic plaintext, never
    # an error that would make the service a padding oracle, and never the real plaintext.
    v15 = key.encrypt(b"secret", "EH_RSA_PKCS1")
    bad = bytes([v15[0] ^ 1]) + v15[1:]
    first = key.decrypt(bad, "EH_RSA_PKCS1")
    assert first == key.decrypt(bad, "EH_RSA_PKCS1")
    assert first != b"secret"


def test_sm2_encrypt_round_trip_and_limits(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    _, key = keys["EH_SM2"]
    public = pub_of(key, "EH_SM2")
    for pad in (None, "EH_PAD_NONE", "EH_RSA_PKCS1_OAEP"):  # ignored for SM2
        ct = public.encrypt(b"sm2 data", pad)
        assert ct[0] == 0x30  # GM/T 0009 DER
        assert key.decrypt(ct, pad) == b"sm2 data"
    assert key.decrypt(public.encrypt(b"\xab" * 6144, None), None) == b"\xab" * 6144
    with pytest.raises(PlaintextTooLong):
        public.encrypt(b"x" * 6145, None)
    ct = public.encrypt(b"sm2 data", None)
    with pytest.raises(DecryptionFailed):
        key.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]), None)
    with pytest.raises(DecryptionFailed):
        key.decrypt(b"not der", None)


# -------------------------------------------------------------------------------------------------
# loading
# -------------------------------------------------------------------------------------------------


def test_load_key_refuses_material_of_another_keyspec(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    rsa_material = keys["EH_RSA_2048"][0]
    p256_material = keys["EH_EC_P256"][0]
    sm2_material = keys["EH_SM2"][0]
    for spec, material in [
        ("EH_RSA_3072", rsa_material),
        ("EH_EC_P384", p256_material),
        ("EH_EC_P256K", p256_material),
        ("EH_RSA_2048", p256_material),
        ("EH_EC_P256", rsa_material),
        ("EH_SM2", p256_material),
        ("EH_EC_P256", sm2_material),
        ("EH_RSA_2048", b"\x30\x03\x02\x01\x00"),
        ("EH_AES_GCM_256", b"\0" * 32),
        ("EH_HMAC", b""),
    ]:
        with pytest.raises(KeyMaterialError):
            load_key(keyspec(spec), material)
    with pytest.raises(KeyMaterialError):
        load_public_key(keyspec("EH_HMAC"), b"")


def test_primitives_keep_secrets_out_of_repr_and_pickle(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    for name, (material, key) in keys.items():
        text = repr(key)
        assert material.hex() not in text and "PRIVATE" not in text, name
        with pytest.raises(TypeError):
            pickle.dumps(key)


def test_digest_verify_uses_prehashed_semantics(keys: dict[str, tuple[bytes, KeyPrimitive]]) -> None:
    material, key = keys["EH_EC_P256"]
    pyca = serialization.load_der_private_key(material, None)
    assert isinstance(pyca, crypto_ec.EllipticCurvePrivateKey)
    d = digest_of("EH_SHA_256", MSG)
    sig = pyca.sign(d, crypto_ec.ECDSA(Prehashed(hashes.SHA256())))
    assert key.verify(sig, d, digest="EH_SHA_256", prehashed=True, padding=None)
    assert key.verify(sig, MSG, digest="EH_SHA_256", prehashed=False, padding=None)
