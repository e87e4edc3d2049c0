"""SM2 binding: round trips, negative cases, and interop with gmalg and the openssl CLI."""

from __future__ import annotations

import copy
import pickle
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gmalg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.crypto.sm2 import (
    DEFAULT_USER_ID,
    SM2Error,
    SM2PrivateKey,
    SM2PublicKey,
    generate_private_key,
)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
G_X = int("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7", 16)
G_Y = int("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", 16)
OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")
OID_SM2 = bytes.fromhex("06082a811ccf5501822d")


# --------------------------------------------------------------------------------------------
# minimal DER helpers (test-only; the module under test never parses DER itself)
# --------------------------------------------------------------------------------------------


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(v: int) -> bytes:
    body = v.to_bytes(v.bit_length() // 8 + 1, "big")  # always room for a clear sign bit
    return _tlv(0x02, body)


def _parse(der: bytes) -> list[tuple[int, bytes]]:
    """Split a DER byte string into its top-level (tag, value) elements."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(der):
        tag, first = der[i], der[i + 1]
        i += 2
        if first & 0x80:
            nlen = first & 0x7F
            length = int.from_bytes(der[i : i + nlen], "big")
            i += nlen
        else:
            length = first
        out.append((tag, der[i : i + length]))
        i += length
    return out


def _non_minimal_length(der: bytes) -> bytes:
    """The same TLV with its outer length written one byte longer than DER allows."""
    if der[1] < 0x80:
        return der[:1] + b"\x81" + der[1:]
    nlen = der[1] & 0x7F
    return der[:1] + bytes([0x80 | (nlen + 1), 0]) + der[2:]


def _min_int(v: bytes) -> bytes:
    """Minimal DER INTEGER body for the unsigned big-endian ``v``."""
    n = int.from_bytes(v, "big")
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


def _ct_der(x_body: bytes, y_body: bytes, c3: bytes, c2: bytes) -> bytes:
    """SM2 ciphertext DER with caller-chosen INTEGER bodies (to build non-canonical encodings)."""
    return _tlv(0x30, _tlv(0x02, x_body) + _tlv(0x02, y_body) + _tlv(0x04, c3) + _tlv(0x04, c2))


def der_to_c1c3c2(ct: bytes) -> bytes:
    """GM/T 0009 DER SEQUENCE{x, y, C3, C2} -> gmalg's raw 04||x||y || C3 || C2 concatenation."""
    [(seq_tag, seq)] = _parse(ct)
    assert seq_tag == 0x30
    (tx, x), (ty, y), (t3, c3), (t2, c2) = _parse(seq)
    assert (tx, ty, t3, t2) == (0x02, 0x02, 0x04, 0x04)
    xi, yi = int.from_bytes(x, "big"), int.from_bytes(y, "big")
    return b"\x04" + xi.to_bytes(32, "big") + yi.to_bytes(32, "big") + c3 + c2


def c1c3c2_to_der(raw: bytes) -> bytes:
    """gmalg's raw (uncompressed C1) || C3(32) || C2 -> GM/T 0009 DER as OpenSSL reads it."""
    assert raw[0] == 0x04
    x, y, c3, c2 = raw[1:33], raw[33:65], raw[65:97], raw[97:]
    body = _der_int(int.from_bytes(x, "big")) + _der_int(int.from_bytes(y, "big")) + _tlv(0x04, c3) + _tlv(0x04, c2)
    return _tlv(0x30, body)


def private_scalar(key: SM2PrivateKey) -> bytes:
    """d (32 bytes) out of PrivateKeyInfo{0, AlgId, OCTET STRING{ECPrivateKey{1, OCTET d, ...}}}."""
    [(_, p8)] = _parse(key.to_pkcs8_der())
    _version, _alg, (_, inner) = _parse(p8)
    [(_, ec_priv)] = _parse(inner)
    (_, _one), (_, d), *_rest = _parse(ec_priv)
    return d.rjust(32, b"\x00")


def public_point(key: SM2PublicKey) -> bytes:
    """04||x||y out of SubjectPublicKeyInfo{AlgId, BIT STRING}."""
    [(_, spki)] = _parse(key.to_spki_der())
    _alg, (_, bits) = _parse(spki)
    assert bits[0] == 0
    return bits[1:]


def build_pkcs8(d: bytes, point: bytes) -> bytes:
    """PKCS#8 for an SM2 key laid out the way OpenSSL 3 writes it (namedCurve sm2, no inner params)."""
    alg = _tlv(0x30, OID_EC_PUBLIC_KEY + OID_SM2)
    ec_priv = _tlv(0x30, _der_int(1) + _tlv(0x04, d) + _tlv(0xA1, _tlv(0x03, b"\x00" + point)))
    return _tlv(0x30, _der_int(0) + alg + _tlv(0x04, ec_priv))


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return generate_private_key()


@pytest.fixture(scope="module")
def other_key() -> SM2PrivateKey:
    return generate_private_key()


def run_openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run([OPENSSL, *map(str, args)], input=stdin, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------


def test_sign_verify_round_trip(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    for msg in (b"", b"abc", b"x" * 10_000):
        sig = key.sign(msg)
        assert sig[0] == 0x30
        assert pub.verify(sig, msg)
        assert pub.verify(key.sign(msg, b"alice@example.com"), msg, b"alice@example.com")


def test_signatures_are_randomised(key: SM2PrivateKey) -> None:
    assert key.sign(b"same") != key.sign(b"same")


def test_sign_digest_round_trip(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    e = pub.z_digest(b"message")
    assert len(e) == 32
    sig = key.sign_digest(e)
    assert pub.verify_digest(sig, e)
    assert not pub.verify_digest(sig, bytes(32))


def test_sign_and_digest_variants_agree(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    msg, uid = b"consistency", b"bob"
    # sign() hashes inside OpenSSL; z_digest() hashes in Python: both must produce the same e.
    assert pub.verify_digest(key.sign(msg, uid), pub.z_digest(msg, uid))
    assert pub.verify(key.sign_digest(pub.z_digest(msg, uid)), msg, uid)
    assert pub.verify_digest(key.sign(msg), pub.z_digest(msg, DEFAULT_USER_ID))
    # empty user id is legal (ENTL = 0)
    assert pub.verify(key.sign(msg, b""), msg, b"")
    assert pub.verify_digest(key.sign(msg, b""), pub.z_digest(msg, b""))


@pytest.mark.parametrize("size", [1, 32, 6144])
def test_encrypt_decrypt_round_trip(key: SM2PrivateKey, size: int) -> None:
    pt = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    ct = key.public_key().encrypt(pt)
    assert ct[0] == 0x30
    assert len(der_to_c1c3c2(ct)) == 1 + 64 + 32 + size
    assert key.decrypt(ct) == pt


@settings(max_examples=25, deadline=None)
@given(pt=st.binary(min_size=1, max_size=512))
def test_encrypt_decrypt_property(key: SM2PrivateKey, pt: bytes) -> None:
    assert key.decrypt(key.public_key().encrypt(pt)) == pt


def test_pkcs8_round_trip(key: SM2PrivateKey) -> None:
    der = key.to_pkcs8_der()
    # OpenSSL 3 writes SM2 keys as id-ecPublicKey with namedCurve sm2.
    assert OID_EC_PUBLIC_KEY + OID_SM2 in der
    loaded = SM2PrivateKey.from_pkcs8_der(der)
    assert loaded.to_pkcs8_der() == der
    assert loaded.public_key() == key.public_key()
    assert key.public_key().verify(loaded.sign(b"m"), b"m")


def test_spki_round_trips(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    der = pub.to_spki_der()
    pem = pub.to_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.endswith("-----END PUBLIC KEY-----\n")
    assert SM2PublicKey.from_spki_der(der).to_spki_der() == der
    assert SM2PublicKey.from_pem(pem).to_spki_der() == der
    assert SM2PublicKey.from_pem(pem.encode()).to_spki_der() == der
    assert SM2PublicKey.from_pem(pem.replace("\n", "\r\n")) == pub


def test_compressed_spki_is_accepted_and_normalised(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    point = public_point(pub)
    x, y = point[1:33], point[33:]
    alg = _tlv(0x30, OID_EC_PUBLIC_KEY + OID_SM2)
    compressed = _tlv(0x30, alg + _tlv(0x03, b"\x00" + bytes([2 | (y[-1] & 1)]) + x))
    loaded = SM2PublicKey.from_spki_der(compressed)
    assert loaded.to_spki_der() == pub.to_spki_der()
    assert loaded.z_digest(b"m") == pub.z_digest(b"m")
    assert loaded.verify(key.sign(b"m"), b"m")


def test_shared_between_threads(key: SM2PrivateKey) -> None:
    pub = key.public_key()

    def work(i: int) -> bool:
        msg = i.to_bytes(4, "big")
        return pub.verify(key.sign(msg), msg) and key.decrypt(pub.encrypt(msg)) == msg

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(32)))


# --------------------------------------------------------------------------------------------
# negative cases
# --------------------------------------------------------------------------------------------


def test_verify_rejects_wrong_inputs(key: SM2PrivateKey, other_key: SM2PrivateKey) -> None:
    pub = key.public_key()
    sig = key.sign(b"message")
    assert pub.verify(sig, b"message")
    assert not pub.verify(sig, b"messagE")
    assert not other_key.public_key().verify(sig, b"message")
    assert not pub.verify(sig, b"message", b"another id")
    assert not pub.verify(sig, b"message", b"x" * 9000)  # too long for ENTL: False, not an exception
    tampered = bytearray(sig)
    tampered[-1] ^= 0x01
    assert not pub.verify(bytes(tampered), b"message")
    r, s = decode_dss_signature(sig)
    assert not pub.verify(encode_dss_signature(s, r), b"message")
    assert not pub.verify(encode_dss_signature(r, s + SM2_N), b"message")
    for junk in (b"", b"\x30\x00", b"\x00" * 72, sig + b"\x00", sig[:-1]):
        assert not pub.verify(junk, b"message")
        assert not pub.verify_digest(junk, pub.z_digest(b"message"))
    e = pub.z_digest(b"message")
    assert not pub.verify_digest(sig, e[:31])
    assert not other_key.public_key().verify_digest(sig, e)


def test_sign_digest_requires_32_bytes(key: SM2PrivateKey) -> None:
    for bad in (b"", bytes(31), bytes(33), bytes(64)):
        with pytest.raises(SM2Error):
            key.sign_digest(bad)


def test_user_id_length_limit(key: SM2PrivateKey) -> None:
    longest = b"i" * 8190  # ENTL_A = 65520 bits
    assert key.public_key().verify(key.sign(b"m", longest), b"m", longest)
    with pytest.raises(SM2Error):
        key.sign(b"m", b"i" * 8191)
    with pytest.raises(SM2Error):
        key.public_key().z_digest(b"m", b"i" * 8191)


def test_tampered_ciphertext_fails(key: SM2PrivateKey) -> None:
    secret = b"top secret plaintext"
    ct = key.public_key().encrypt(secret)
    raw = der_to_c1c3c2(ct)
    x, y, c3, c2 = raw[1:33], raw[33:65], raw[65:97], raw[97:]
    assert key.decrypt(_ct_der(_min_int(x), _min_int(y), c3, c2)) == secret
    variants = [
        ct[:-1] + bytes([ct[-1] ^ 0x01]),  # C2
        c1c3c2_to_der(raw[:70] + bytes([raw[70] ^ 0x01]) + raw[71:]),  # C3
        c1c3c2_to_der(raw[:5] + bytes([raw[5] ^ 0x01]) + raw[6:]),  # C1.x (off the curve or wrong point)
        ct[:-1],  # truncated
        ct + b"\x00",  # trailing data (OpenSSL 3.0 on its own ignores it)
        ct + b"\x30\x00",
        _non_minimal_length(ct),  # BER, not DER
        _ct_der(b"\x00\x00" + x, _min_int(y), c3, c2),  # non-minimal INTEGER
        _ct_der(_min_int(x), _min_int(y), c3[:-1], c2),  # C3 not 32 bytes
        _ct_der(_min_int(x), _min_int(y), c3, b""),  # empty C2
        _ct_der(_min_int(x), _min_int(y), c3 + c2[:1], c2[1:]),
        b"",
        b"\x30\x00",
        b"\x00" * 120,
    ]
    for bad in variants:
        with pytest.raises(SM2Error) as info:
            key.decrypt(bad)
        assert secret.hex() not in str(info.value) and "secret" not in str(info.value)
    # a ciphertext for another key does not decrypt either
    with pytest.raises(SM2Error):
        generate_private_key().decrypt(ct)


def test_short_c1_coordinates_decrypt(key: SM2PrivateKey) -> None:
    """C1 coordinates below 2^248 are shorter INTEGERs; they must pass the strict framing check."""
    pub = key.public_key()
    for _ in range(3000):
        ct = pub.encrypt(b"short")
        raw = der_to_c1c3c2(ct)
        if raw[1] == 0 or raw[33] == 0:
            assert key.decrypt(ct) == b"short"
            assert key.decrypt(c1c3c2_to_der(raw)) == b"short"
            return
    pytest.fail("no short coordinate in 3000 encryptions")


def test_encrypt_empty_plaintext_rejected(key: SM2PrivateKey) -> None:
    with pytest.raises(SM2Error):
        key.public_key().encrypt(b"")


def test_non_sm2_keys_rejected() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_pkcs8 = p256.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p256_spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pkcs8 = ed.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for der in (p256_pkcs8, ed_pkcs8):
        with pytest.raises(SM2Error):
            SM2PrivateKey.from_pkcs8_der(der)
    with pytest.raises(SM2Error):
        SM2PublicKey.from_spki_der(p256_spki)
    with pytest.raises(SM2Error):
        SM2PublicKey.from_pem(
            p256.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def test_malformed_keys_rejected(key: SM2PrivateKey, other_key: SM2PrivateKey) -> None:
    der = key.to_pkcs8_der()
    spki = key.public_key().to_spki_der()
    for bad in (b"", b"\x30\x00", der[:-1], der + b"\x00", bytes(len(der)), spki):
        with pytest.raises(SM2Error):
            SM2PrivateKey.from_pkcs8_der(bad)
    for bad in (b"", spki[:-1], spki + b"\x00", der):
        with pytest.raises(SM2Error):
            SM2PublicKey.from_spki_der(bad)
    for pem in ("", "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n", "not a key"):
        with pytest.raises(SM2Error):
            SM2PublicKey.from_pem(pem)
    # public point that is not d*G
    d = private_scalar(key)
    with pytest.raises(SM2Error):
        SM2PrivateKey.from_pkcs8_der(build_pkcs8(d, public_point(other_key.public_key())))
    # scalar out of range
    point = public_point(key.public_key())
    for bad_d in (bytes(32), SM2_N.to_bytes(32, "big"), (SM2_N + 1).to_bytes(32, "big")):
        with pytest.raises(SM2Error):
            SM2PrivateKey.from_pkcs8_der(build_pkcs8(bad_d, point))
    # d = n - 1 is consistent with P = -G but unusable for SM2 signing ((1 + d) has no inverse)
    minus_g = b"\x04" + G_X.to_bytes(32, "big") + (SM2_P - G_Y).to_bytes(32, "big")
    with pytest.raises(SM2Error):
        SM2PrivateKey.from_pkcs8_der(build_pkcs8((SM2_N - 1).to_bytes(32, "big"), minus_g))
    one = SM2PrivateKey.from_pkcs8_der(
        build_pkcs8((1).to_bytes(32, "big"), b"\x04" + G_X.to_bytes(32, "big") + G_Y.to_bytes(32, "big"))
    )
    assert one.public_key().verify(one.sign(b"m"), b"m")
    # SEC1 ECPrivateKey is not PKCS#8
    sec1 = _parse(_parse(der)[0][1])[2][1]
    with pytest.raises(SM2Error):
        SM2PrivateKey.from_pkcs8_der(sec1)


def test_reprs_do_not_leak(key: SM2PrivateKey) -> None:
    assert repr(key) == "<SM2PrivateKey>"
    assert repr(key.public_key()) == "<SM2PublicKey>"
    assert private_scalar(key).hex() not in repr(key) + str(key)


def test_pickle_and_copy(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    assert pickle.loads(pickle.dumps(pub)) == pub
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert copy.deepcopy(key) is key
    assert copy.copy(pub) is pub


# --------------------------------------------------------------------------------------------
# gmalg cross-checks (gmalg uses raw r||s integers and raw C1C3C2 concatenation, not DER)
# --------------------------------------------------------------------------------------------


def test_sm3_known_answer() -> None:
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905 A.1
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    assert h.finalize().hex() == expected
    g = gmalg.SM3()
    g.update(b"abc")
    assert g.value().hex() == expected


def test_signatures_interoperate_with_gmalg(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    uid, msg = b"gmalg-user", b"interop message"
    ours = gmalg.SM2(sk=private_scalar(key), pk=public_point(pub), uid=uid)
    assert ours.generate_pk(private_scalar(key)) == public_point(pub)

    r, s = decode_dss_signature(key.sign(msg, uid))
    assert gmalg.SM2(pk=public_point(pub), uid=uid).verify(msg, r.to_bytes(32, "big"), s.to_bytes(32, "big"))

    gr, gs = ours.sign(msg)
    sig = encode_dss_signature(int.from_bytes(gr, "big"), int.from_bytes(gs, "big"))
    assert pub.verify(sig, msg, uid)
    assert not pub.verify(sig, msg, DEFAULT_USER_ID)


def test_ciphertexts_interoperate_with_gmalg(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    pt = b"gmalg <-> openssl"
    raw = gmalg.SM2(pk=public_point(pub)).encrypt(pt)
    assert key.decrypt(c1c3c2_to_der(raw)) == pt
    ct = pub.encrypt(pt)
    assert gmalg.SM2(sk=private_scalar(key)).decrypt(der_to_c1c3c2(ct)) == pt


def test_gmalg_generated_key_loads() -> None:
    sk, pk = gmalg.SM2().generate_keypair()
    loaded = SM2PrivateKey.from_pkcs8_der(build_pkcs8(sk.rjust(32, b"\x00"), pk))
    assert public_point(loaded.public_key()) == pk
    r, s = gmalg.SM2(sk=sk, pk=pk, uid=DEFAULT_USER_ID).sign(b"hi")
    sig = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    assert loaded.public_key().verify(sig, b"hi")


# --------------------------------------------------------------------------------------------
# openssl CLI interop (OpenSSL 3.0: its default SM2 distid is EMPTY, so always pass distid)
# --------------------------------------------------------------------------------------------

DISTID = f"distid:{DEFAULT_USER_ID.decode()}"


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sm2") / "key.pem"
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", path)
    return path


def _load_openssl_key(path: Path) -> SM2PrivateKey:
    return SM2PrivateKey.from_pkcs8_der(run_openssl("pkcs8", "-topk8", "-nocrypt", "-in", path, "-outform", "DER"))


def test_openssl_generated_keys_load(openssl_key: Path, tmp_path: Path) -> None:
    alt = tmp_path / "sm2alg.pem"
    run_openssl("genpkey", "-algorithm", "SM2", "-out", alt)
    for path in (openssl_key, alt):
        priv = _load_openssl_key(path)
        pub_pem = run_openssl("pkey", "-in", path, "-pubout")
        assert SM2PublicKey.from_pem(pub_pem) == priv.public_key()
        assert priv.public_key().to_pem().encode() == pub_pem
        assert priv.decrypt(priv.public_key().encrypt(b"x")) == b"x"


def test_our_keys_load_in_openssl(key: SM2PrivateKey, tmp_path: Path) -> None:
    der = tmp_path / "k.der"
    der.write_bytes(key.to_pkcs8_der())
    text = run_openssl("pkey", "-inform", "DER", "-in", der, "-noout", "-text").decode()
    assert "ASN1 OID: SM2" in text
    assert run_openssl("pkey", "-inform", "DER", "-in", der, "-pubout").decode() == key.public_key().to_pem()
    pem = tmp_path / "p.pem"
    pem.write_text(key.public_key().to_pem())
    text = run_openssl("pkey", "-pubin", "-in", pem, "-noout", "-text").decode()
    assert "ASN1 OID: SM2" in text


def test_openssl_signature_verifies_here(openssl_key: Path, tmp_path: Path) -> None:
    msg = tmp_path / "msg"
    msg.write_bytes(b"signed by the openssl CLI")
    sig = run_openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", openssl_key, "-in", msg, "-pkeyopt", DISTID
    )
    sig2 = run_openssl("dgst", "-sm3", "-sign", openssl_key, "-sigopt", DISTID, msg)
    nodist = run_openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", openssl_key, "-in", msg)
    pub = _load_openssl_key(openssl_key).public_key()
    assert pub.verify(sig, msg.read_bytes())
    assert pub.verify(sig2, msg.read_bytes())
    assert pub.verify_digest(sig, pub.z_digest(msg.read_bytes()))
    # OpenSSL 3.0's default distid is the empty string, not 1234567812345678
    assert not pub.verify(nodist, msg.read_bytes())
    assert pub.verify(nodist, msg.read_bytes(), b"")


def test_our_signature_verifies_in_openssl(key: SM2PrivateKey, tmp_path: Path) -> None:
    msg, sig, pub = tmp_path / "msg", tmp_path / "sig", tmp_path / "pub.pem"
    msg.write_bytes(b"signed by pyehsm")
    pub.write_text(key.public_key().to_pem())
    for signature in (
        key.sign(msg.read_bytes()),
        key.sign_digest(key.public_key().z_digest(msg.read_bytes())),
    ):
        sig.write_bytes(signature)
        out = run_openssl(
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", pub,
            "-in", msg, "-sigfile", sig, "-pkeyopt", DISTID,
        )  # fmt: skip
        assert b"Signature Verified Successfully" in out
    out = run_openssl("dgst", "-sm3", "-verify", pub, "-sigopt", DISTID, "-signature", sig, msg)
    assert b"Verified OK" in out


def test_openssl_ciphertext_decrypts_here(key: SM2PrivateKey, tmp_path: Path) -> None:
    pub, msg = tmp_path / "pub.pem", tmp_path / "msg"
    pub.write_text(key.public_key().to_pem())
    msg.write_bytes(b"encrypted by the openssl CLI")
    ct = run_openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", msg)
    assert key.decrypt(ct) == msg.read_bytes()


def test_our_ciphertext_decrypts_in_openssl(key: SM2PrivateKey, tmp_path: Path) -> None:
    der, ct = tmp_path / "k.der", tmp_path / "ct"
    der.write_bytes(key.to_pkcs8_der())
    ct.write_bytes(key.public_key().encrypt(b"encrypted by pyehsm"))
    out = run_openssl("pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", der, "-in", ct)
    assert out == b"encrypted by pyehsm"
