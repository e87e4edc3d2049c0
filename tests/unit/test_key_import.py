"""BYOK unwrapping and material checks (crypto/key_import.py), against material and ciphertexts made with
`cryptography` and the `openssl` CLI."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from pyehsm.crypto import sm2
from pyehsm.crypto.key_import import (
    IMPORT_PADDINGS,
    DecryptionFailed,
    ImportScheme,
    WrappingKey,
    check_material,
    import_scheme,
)
from pyehsm.crypto.keyspecs import KEYSPECS, keyspec
from pyehsm.crypto.pkcs8 import pkcs8_algorithm
from pyehsm.errors import DomainError, MaterialRejected
from tests.support.ehsm import ehsm_raises

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PKCS8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_der(curve: ec.EllipticCurve, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    return ec.generate_private_key(curve).private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def wrapping(spec: str) -> tuple[WrappingKey, bytes]:
    """A wrapping key as the pool would give it, and its public key (SPKI DER)."""
    if spec == "EH_SM2":
        der = sm2.generate_private_key().to_pkcs8_der()
    else:
        der = rsa_key(keyspec(spec).rsa_bits).private_bytes(*PKCS8)
    key = WrappingKey(keyspec(spec), der)
    return key, key.spki_der


def rsa_aes_wrap(spki: bytes, material: bytes, kek: bytes | None = None) -> bytes:
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, rsa.RSAPublicKey)
    kek = kek or os.urandom(32)
    return public.encrypt(kek, OAEP) + aes_key_wrap_with_padding(kek, material)


# -- scheme selection -------------------------------------------------------------------------------
def test_rsa_wrapping_keys_need_one_of_their_paddings() -> None:
    spec = keyspec("EH_RSA_2048")
    assert import_scheme(spec, "EH_RSA_PKCS1") is ImportScheme.RSA_PKCS1
    assert import_scheme(spec, "EH_RSA_PKCS1_OAEP") is ImportScheme.RSA_OAEP
    assert import_scheme(spec, "EH_RSA_AES_KEY_WRAP") is ImportScheme.RSA_AES_KEY_WRAP
    assert import_scheme(spec, "EH_RSA_PKCS1_OAEP_SHA1") is ImportScheme.RSA_OAEP_SHA1
    assert import_scheme(spec, "EH_RSA_AES_KEY_WRAP_SHA1") is ImportScheme.RSA_AES_KEY_WRAP_SHA1
    assert IMPORT_PADDINGS == (
        "EH_RSA_PKCS1",
        "EH_RSA_PKCS1_OAEP",
        "EH_RSA_AES_KEY_WRAP",
        "EH_RSA_PKCS1_OAEP_SHA1",
        "EH_RSA_AES_KEY_WRAP_SHA1",
    )
    with ehsm_raises(match="padding_mode cannot be empty"):
        import_scheme(spec, None)
    for bad in ("EH_RSA_PKCS1_PSS", "EH_PAD_NONE"):
        with ehsm_raises(match=f"padding_mode {bad} cannot be used"):
            import_scheme(spec, bad)


def test_sm2_wrapping_keys_ignore_the_padding() -> None:
    for pad in (None, "EH_PAD_NONE", "EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP", "EH_RSA_PKCS1_PSS"):
        assert import_scheme(keyspec("EH_SM2"), pad) is ImportScheme.SM2


def test_only_rsa_and_sm2_keys_wrap() -> None:
    with pytest.raises(DomainError):
        import_scheme(keyspec("EH_EC_P256"), "EH_RSA_PKCS1_OAEP")
    with pytest.raises(ValueError):
        WrappingKey(keyspec("EH_EC_P256"), ec_der(ec.SECP256R1()))
    with pytest.raises(ValueError):  # a 3072-bit key is not an EH_RSA_2048 wrapping key
        WrappingKey(keyspec("EH_RSA_2048"), rsa_key(3072).private_bytes(*PKCS8))


# -- unwrapping -------------------------------------------------------------------------------------
def test_rsa_schemes_round_trip_and_fail_as_one_error() -> None:
    key, spki = wrapping("EH_RSA_2048")
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, rsa.RSAPublicKey)
    assert key.public_pem.startswith("-----BEGIN RSA PUBLIC KEY-----")  # PKCS#1, as Intel's server sends it
    assert serialization.load_pem_public_key(key.public_pem.encode()).public_numbers() == public.public_numbers()
    material = os.urandom(32)
    assert key.unwrap(public.encrypt(material, OAEP), ImportScheme.RSA_OAEP) == material
    assert key.unwrap(public.encrypt(material, padding.PKCS1v15()), ImportScheme.RSA_PKCS1) == material
    big = os.urandom(1300)  # an RSA-2048 PKCS#8 does not fit in one RSA block
    assert key.unwrap(rsa_aes_wrap(spki, big), ImportScheme.RSA_AES_KEY_WRAP) == big
    for kek_size in (16, 24):
        assert key.unwrap(rsa_aes_wrap(spki, big, os.urandom(kek_size)), ImportScheme.RSA_AES_KEY_WRAP) == big

    oaep_ct = public.encrypt(material, OAEP)
    for bad in (
        oaep_ct[:-1],
        oaep_ct + b"\x00",
        bytes(len(oaep_ct)),
        oaep_ct[:10] + bytes([oaep_ct[10] ^ 1]) + oaep_ct[11:],
    ):
        with pytest.raises(DecryptionFailed):
            key.unwrap(bad, ImportScheme.RSA_OAEP)
    with pytest.raises(DecryptionFailed):  # OAEP ciphertext read as RSA-AES: no wrapped part
        key.unwrap(oaep_ct, ImportScheme.RSA_AES_KEY_WRAP)


def test_rsa_aes_key_wrap_rejects_every_kind_of_damage() -> None:
    key, spki = wrapping("EH_RSA_2048")
    ct = rsa_aes_wrap(spki, os.urandom(200))
    k = 256
    cases = {
        "wrapped part modified": ct[: k + 3] + bytes([ct[k + 3] ^ 0x80]) + ct[k + 4 :],
        "wrapped part truncated to a non-multiple of 8": ct[:-3],
        "wrapped part too short": ct[: k + 8],
        "RSA part modified": bytes([ct[0] ^ 1]) + ct[1:],
        "RSA part of another key": rsa_aes_wrap(wrapping("EH_RSA_2048")[1], os.urandom(200))[:k] + ct[k:],
    }
    for bad in cases.values():
        with pytest.raises(DecryptionFailed):
            key.unwrap(bad, ImportScheme.RSA_AES_KEY_WRAP)
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, rsa.RSAPublicKey)
    odd_kek = public.encrypt(os.urandom(20), OAEP) + aes_key_wrap_with_padding(os.urandom(32), b"x" * 40)
    with pytest.raises(DecryptionFailed):  # the OAEP part must carry an AES key (16/24/32 bytes)
        key.unwrap(odd_kek, ImportScheme.RSA_AES_KEY_WRAP)


def test_pkcs1_uses_implicit_rejection_so_only_the_form_check_stops_garbage() -> None:
    """A PKCS#1 v1.5 ciphertext for another key does not fail: it 'decrypts' to pseudo-random bytes
    (no padding oracle). The material check is what refuses them (docs/byok.md: prefer OAEP)."""
    key, spki = wrapping("EH_RSA_2048")
    ours = serialization.load_der_public_key(spki)
    assert isinstance(ours, rsa.RSAPublicKey)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    material = ec_der(ec.SECP256R1())
    ct = stranger.encrypt(material, padding.PKCS1v15())
    while int.from_bytes(ct, "big") >= ours.public_numbers().n:  # out of range for our key: a plain error
        ct = stranger.encrypt(material, padding.PKCS1v15())
    garbage = key.unwrap(ct, ImportScheme.RSA_PKCS1)
    assert garbage != material
    assert key.unwrap(ct, ImportScheme.RSA_PKCS1) == garbage  # deterministic per (key, ciphertext)
    with pytest.raises(MaterialRejected):
        check_material(keyspec("EH_EC_P256"), garbage)
    with pytest.raises(DecryptionFailed):  # OAEP fails cleanly instead
        key.unwrap(stranger.encrypt(material, OAEP), ImportScheme.RSA_OAEP)


def test_sm2_unwraps_openssl_cli_ciphertexts(tmp_path: Path) -> None:
    key, spki = wrapping("EH_SM2")
    pem = tmp_path / "wrap.pem"
    pem.write_text(key.public_pem)
    material = os.urandom(2400)  # an RSA-4096 PKCS#8 is about this long: SM2 carries it directly
    ct = subprocess.run(
        ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pem)],
        input=material,
        capture_output=True,
        check=True,
    ).stdout
    assert key.unwrap(ct, ImportScheme.SM2) == material
    assert sm2.SM2PublicKey.from_spki_der(spki).to_pem() == key.public_pem
    for bad in (ct[:-1], ct[:-1] + bytes([ct[-1] ^ 1]), b"\x30\x00", os.urandom(len(ct))):
        with pytest.raises(DecryptionFailed):
            key.unwrap(bad, ImportScheme.SM2)
    with pytest.raises(DecryptionFailed):  # an SM2 key cannot take an RSA scheme
        key.unwrap(ct, ImportScheme.RSA_OAEP)
    rsa_wrap, _ = wrapping("EH_RSA_2048")
    with pytest.raises(DecryptionFailed):
        rsa_wrap.unwrap(ct, ImportScheme.SM2)


def test_wrapping_keys_do_not_leak_through_repr_or_pickle() -> None:
    import pickle

    key, _ = wrapping("EH_RSA_2048")
    assert repr(key) == "<WrappingKey EH_RSA_2048>"
    with pytest.raises(TypeError):
        pickle.dumps(key)


# -- material checks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        ("EH_AES_GCM_128", [16], [0, 15, 17, 24, 32]),
        ("EH_AES_GCM_192", [24], [16, 23, 25, 32]),
        ("EH_AES_GCM_256", [32], [16, 24, 31, 33, 64]),
        ("EH_SM4_CTR", [16], [15, 17, 32]),
        ("EH_SM4_CBC", [16], [15, 17, 32]),
        ("EH_HMAC", [14, 16, 32, 48, 64, 65, 128], [0, 13, 129, 256]),
    ],
)
def test_symmetric_material_is_raw_bytes_of_an_allowed_length(spec: str, good: list[int], bad: list[int]) -> None:
    for n in good:
        material = os.urandom(n)
        assert check_material(keyspec(spec), material) == material
    for n in bad:
        with ehsm_raises(match=f"The key_material length error: {spec} key material must be"):
            check_material(keyspec(spec), os.urandom(n))


def test_intel_sdk_hex_strings_are_raw_bytes_of_the_key_size() -> None:
    hex_key = os.urandom(16).hex().encode()  # 32 ASCII characters
    assert check_material(keyspec("EH_AES_GCM_256"), hex_key) == hex_key
    assert check_material(keyspec("EH_SM4_CBC"), os.urandom(8).hex().encode())


def test_length_messages_name_the_rule_not_the_data() -> None:
    with ehsm_raises(MaterialRejected) as exc:
        check_material(keyspec("EH_HMAC"), b"\x01" * 10)
    assert exc.value.message == (
        "Parameter invalid, The key_material length error: EH_HMAC key material must be 14 to 128 bytes."
    )
    with ehsm_raises(MaterialRejected) as exc:
        check_material(keyspec("EH_AES_GCM_192"), b"\x01" * 10)
    assert exc.value.message.endswith("EH_AES_GCM_192 key material must be 24 bytes.")


CURVES = {
    "EH_EC_P224": ec.SECP224R1(),
    "EH_EC_P256": ec.SECP256R1(),
    "EH_EC_P256K": ec.SECP256K1(),
    "EH_EC_P384": ec.SECP384R1(),
    "EH_EC_P521": ec.SECP521R1(),
}


@pytest.mark.parametrize("spec", sorted(CURVES))
def test_ec_material_is_pkcs8_on_the_keyspec_curve(spec: str) -> None:
    der = ec_der(CURVES[spec])
    stored = check_material(keyspec(spec), der)
    assert serialization.load_der_private_key(stored, None).private_bytes(*PKCS8) == der
    for other, curve in CURVES.items():
        if other != spec:
            with ehsm_raises(match=f"on curve {keyspec(spec).curve}"):
                check_material(keyspec(spec), ec_der(curve))
    traditional = ec_der(CURVES[spec], serialization.PrivateFormat.TraditionalOpenSSL)  # SEC 1, loads in OpenSSL
    for bad in (
        traditional,
        der + b"\x00",
        der[:-1],
        b"\x30\x00",
        os.urandom(len(der)),
        sm2.generate_private_key().to_pkcs8_der(),
    ):
        with ehsm_raises(match="The key_material format wrong"):
            check_material(keyspec(spec), bad)


def test_ec_material_whose_public_point_does_not_match_is_refused() -> None:
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    der = a.private_bytes(*PKCS8)
    mixed = der.replace(a.public_key().public_bytes(*point), b.public_key().public_bytes(*point))
    assert mixed != der
    with pytest.raises(MaterialRejected):
        check_material(keyspec("EH_EC_P256"), mixed)


def test_rsa_material_is_pkcs8_of_exactly_the_keyspec_size() -> None:
    key = rsa_key(2048)
    der = key.private_bytes(*PKCS8)
    assert check_material(keyspec("EH_RSA_2048"), der) == der
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    for spec, bad in (
        ("EH_RSA_2048", pkcs1),  # PKCS#1 RSAPrivateKey: not PKCS#8
        ("EH_RSA_3072", der),  # a 2048-bit key
        ("EH_RSA_2048", der + b"\x00"),
        ("EH_RSA_2048", ec_der(ec.SECP256R1())),
        ("EH_RSA_2048", b""),
    ):
        with ehsm_raises(match=f"{spec} key material must be an unencrypted PKCS#8 DER RSA-"):
            check_material(keyspec(spec), bad)


def test_rsa_material_with_a_broken_private_part_is_refused() -> None:
    """Full validation on import: a well-formed PKCS#8 whose private exponent does not belong to its
    modulus is refused."""
    key = rsa_key(2048)
    der = key.private_bytes(*PKCS8)
    d = key.private_numbers().d.to_bytes(256, "big").lstrip(b"\x00")
    at = der.index(d) + len(d) // 2
    tampered = der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]
    with pytest.raises(MaterialRejected):
        check_material(keyspec("EH_RSA_2048"), tampered)


def test_sm2_material_is_pkcs8_on_the_sm2_curve() -> None:
    key = sm2.generate_private_key()
    der = key.to_pkcs8_der()
    assert check_material(keyspec("EH_SM2"), der) == der
    for bad in (ec_der(ec.SECP256R1()), der + b"\x00", der[:-2], rsa_key(2048).private_bytes(*PKCS8)):
        with ehsm_raises(match="EH_SM2 key material must be an unencrypted PKCS#8 DER SM2"):
            check_material(keyspec("EH_SM2"), bad)


def test_pkcs8_outer_structure() -> None:
    assert pkcs8_algorithm(ec_der(ec.SECP256R1())) == bytes.fromhex("2a8648ce3d0201")
    assert pkcs8_algorithm(rsa_key(2048).private_bytes(*PKCS8)) == bytes.fromhex("2a864886f70d010101")
    for bad in (b"", b"\x30", b"\x30\x81\x01\x00", b"\x30\x80" + bytes(10), b"\x04\x00", b"\x30\x03\x02\x01\x00"):
        with pytest.raises(ValueError):
            pkcs8_algorithm(bad)


def test_every_keyspec_has_a_material_rule() -> None:
    for spec in KEYSPECS.values():
        with pytest.raises(MaterialRejected):
            check_material(spec, b"\x00" * 7)
