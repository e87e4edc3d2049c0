"""Ciphertext blob, AES-GCM (Wycheproof), SM4 (GB/T 32907 example) and the symmetric ciphers behind Encrypt."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyehsm.crypto import aead, blob, sm4, symmetric
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.crypto.blob import AlgorithmId, BlobFormatError
from pyehsm.crypto.keyspecs import Family
from tests.vectors import wycheproof_cases

BIND = uuid.UUID("2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e2f").bytes
OTHER_BIND = uuid.UUID("2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e30").bytes

CIPHERS = {
    "AES-GCM-128": (Family.AES_GCM, 16, AlgorithmId.AES_GCM),
    "AES-GCM-192": (Family.AES_GCM, 24, AlgorithmId.AES_GCM),
    "AES-GCM-256": (Family.AES_GCM, 32, AlgorithmId.AES_GCM),
    "SM4-CBC": (Family.SM4_CBC, 16, AlgorithmId.SM4_CBC_HMAC_SM3),
    "SM4-CTR": (Family.SM4_CTR, 16, AlgorithmId.SM4_CTR_HMAC_SM3),
}


def cipher(name: str, key: bytes | None = None) -> symmetric.SymmetricCipher:
    family, size, _ = CIPHERS[name]
    return symmetric.symmetric_cipher(family, key if key is not None else os.urandom(size))


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# ------------------------------------------------------------------------------------------------
# blob
# ------------------------------------------------------------------------------------------------


def test_blob_pack_unpack() -> None:
    packed = blob.pack(AlgorithmId.SM4_CTR_HMAC_SM3, 0x01020304, b"body")
    assert packed == bytes([0xE1, 3, 1, 2, 3, 4]) + b"body"
    parsed = blob.unpack(packed)
    assert parsed.header == packed[:6] == blob.header(AlgorithmId.SM4_CTR_HMAC_SM3, 0x01020304)
    assert parsed.algorithm is AlgorithmId.SM4_CTR_HMAC_SM3
    assert parsed.key_version == 0x01020304
    assert parsed.body == b"body"
    assert blob.unpack(blob.pack(AlgorithmId.AES_GCM, 2**32 - 1, b"x")).key_version == 2**32 - 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xe1",
        bytes([0xE1, 1, 0, 0, 0, 1]),
        bytes([0xE2, 1, 0, 0, 0, 1]) + b"x",
        bytes([0xE1, 9, 0, 0, 0, 1]) + b"x",
    ],
    ids=["empty", "one byte", "header only", "bad magic", "unknown algorithm"],
)
def test_blob_format_errors(raw: bytes) -> None:
    with pytest.raises(BlobFormatError):
        blob.unpack(raw)


# ------------------------------------------------------------------------------------------------
# symmetric ciphers: round trips and tampering of every bit, header included
# ------------------------------------------------------------------------------------------------


def open_blob(c: symmetric.SymmetricCipher, data: bytes, bind: bytes = BIND, aad: bytes = b"") -> bytes:
    return symmetric.decrypt(c, blob.unpack(data), bind, aad)


@pytest.mark.parametrize("name", CIPHERS)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 1000])
def test_round_trip(name: str, size: int) -> None:
    c = cipher(name)
    plaintext = os.urandom(size)
    for aad in (b"", b"context"):
        ct = symmetric.encrypt(c, 7, plaintext, BIND, aad)
        parsed = blob.unpack(ct)
        assert parsed.algorithm is CIPHERS[name][2]
        assert parsed.key_version == 7
        assert open_blob(c, ct, aad=aad) == plaintext
    assert symmetric.encrypt(c, 7, plaintext, BIND, b"") != symmetric.encrypt(c, 7, plaintext, BIND, b"")  # fresh IV


@pytest.mark.parametrize("name", CIPHERS)
def test_every_bit_flip_fails(name: str) -> None:
    c = cipher(name)
    ct = symmetric.encrypt(c, 1, b"attack at dawn!!x", BIND, b"aad")
    for bit in range(len(ct) * 8):
        tampered = flip(ct, bit)
        with pytest.raises((AuthenticationFailed, BlobFormatError)):
            open_blob(c, tampered, aad=b"aad")
    for cut in range(1, len(ct)):
        with pytest.raises((AuthenticationFailed, BlobFormatError)):
            open_blob(c, ct[:cut], aad=b"aad")
    with pytest.raises(AuthenticationFailed):
        open_blob(c, ct + b"\x00", aad=b"aad")


@pytest.mark.parametrize("name", CIPHERS)
def test_wrong_aad_key_binding_or_algorithm_fails(name: str) -> None:
    c = cipher(name)
    ct = symmetric.encrypt(c, 1, b"secret", BIND, b"aad")
    with pytest.raises(AuthenticationFailed):
        open_blob(c, ct, aad=b"aae")
    with pytest.raises(AuthenticationFailed):
        open_blob(c, ct, aad=b"")
    with pytest.raises(AuthenticationFailed):
        open_blob(c, ct, bind=OTHER_BIND, aad=b"aad")
    with pytest.raises(AuthenticationFailed):
        open_blob(cipher(name), ct, aad=b"aad")  # another key of the same keyspec
    for other in CIPHERS:
        if CIPHERS[other][2] is not CIPHERS[name][2]:
            with pytest.raises(AuthenticationFailed):
                open_blob(cipher(other), ct, aad=b"aad")


# ------------------------------------------------------------------------------------------------
# AES-GCM: Wycheproof vectors (96-bit IV, 128-bit tag) through pyehsm.crypto.aead
# ------------------------------------------------------------------------------------------------

GCM_CASES = [
    (group, test)
    for group, test in wycheproof_cases("aes_gcm_test")
    if group["ivSize"] == 96 and group["tagSize"] == 128
]


def test_wycheproof_selection_is_not_empty() -> None:
    results = {test["result"] for _, test in GCM_CASES}
    assert len(GCM_CASES) > 150
    assert results == {"valid", "invalid"}


@pytest.mark.parametrize(("group", "test"), GCM_CASES, ids=[f"tc{t['tcId']}" for _, t in GCM_CASES])
def test_wycheproof_aes_gcm(group: dict[str, Any], test: dict[str, Any]) -> None:
    key, iv, aad, msg = (bytes.fromhex(test[k]) for k in ("key", "iv", "aad", "msg"))
    sealed = iv + bytes.fromhex(test["ct"]) + bytes.fromhex(test["tag"])
    gcm = aead.new_aesgcm(key)
    if test["result"] == "valid":
        assert aead.open_sealed(gcm, sealed, aad) == msg
        assert aead.seal(gcm, msg, aad, nonce=iv) == sealed
    else:
        with pytest.raises(AuthenticationFailed):
            aead.open_sealed(gcm, sealed, aad)


def test_aead_rejects_short_input_and_uses_fresh_nonces() -> None:
    gcm = aead.new_aesgcm(os.urandom(32))
    with pytest.raises(AuthenticationFailed):
        aead.open_sealed(gcm, b"\x00" * 27, b"")
    nonces = {aead.seal(gcm, b"", b"")[:12] for _ in range(64)}
    assert len(nonces) == 64


# ------------------------------------------------------------------------------------------------
# SM4: GB/T 32907-2016 example 1, through the primitive pyehsm.crypto.sm4 builds
# ------------------------------------------------------------------------------------------------

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_PT = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_CT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")


def test_sm4_standard_example() -> None:
    enc = sm4._cipher(SM4_KEY, bytes(16), True).encryptor()  # CBC, zero IV: one block equals ECB
    assert enc.update(SM4_PT) + enc.finalize() == SM4_CT
    ecb = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert ecb.update(SM4_PT) + ecb.finalize() == SM4_CT
    ctr = sm4._cipher(SM4_KEY, bytes(16), False).encryptor()  # CTR keystream block 0 = E(K, 0)
    keystream = ctr.update(bytes(16)) + ctr.finalize()
    ecb0 = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert keystream == ecb0.update(bytes(16)) + ecb0.finalize()


def _independent_sm4_open(key: bytes, sealed: bytes, header: bytes, aad: bytes, cbc: bool) -> bytes:
    """The documented SM4 format decoded without pyehsm: iv(16) | ct | HMAC-SM3(32)."""
    iv, ct, tag = sealed[:16], sealed[16:-32], sealed[-32:]
    derive = crypto_hmac.HMAC(key, hashes.SM3())
    derive.update(b"pyehsm:sm4:mac:v1")
    mac = crypto_hmac.HMAC(derive.finalize(), hashes.SM3())
    mac.update(len(header).to_bytes(4, "big") + header + len(aad).to_bytes(8, "big") + aad + iv + ct)
    mac.verify(tag)
    mode = modes.CBC(iv) if cbc else modes.CTR(iv)
    dec = Cipher(algorithms.SM4(key), mode).decryptor()
    pt = dec.update(ct) + dec.finalize()
    if cbc:
        unpadder = padding.PKCS7(128).unpadder()
        pt = unpadder.update(pt) + unpadder.finalize()
    return pt


@pytest.mark.parametrize("cbc", [True, False], ids=["CBC", "CTR"])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 31, 32, 33, 6144])
def test_sm4_seal_open_round_trip_and_format(cbc: bool, size: int) -> None:
    key, plaintext = os.urandom(16), os.urandom(size)
    sealed = sm4.seal(key, plaintext, b"header", b"aad", cbc=cbc)
    body = len(sealed) - 16 - 32
    assert body == ((size // 16 + 1) * 16 if cbc else size)
    assert sm4.open_sealed(key, sealed, b"header", b"aad", cbc=cbc) == plaintext
    assert _independent_sm4_open(key, sealed, b"header", b"aad", cbc) == plaintext


@pytest.mark.parametrize("cbc", [True, False], ids=["CBC", "CTR"])
def test_sm4_tamper(cbc: bool) -> None:
    key = os.urandom(16)
    sealed = sm4.seal(key, b"sixteen byte msg+", b"hdr", b"aad", cbc=cbc)
    for bit in range(len(sealed) * 8):
        with pytest.raises(AuthenticationFailed):
            sm4.open_sealed(key, flip(sealed, bit), b"hdr", b"aad", cbc=cbc)
    for header, aad in ((b"hdx", b"aad"), (b"hdr", b"aab"), (b"hd", b"raad"), (b"", b"")):
        with pytest.raises(AuthenticationFailed):
            sm4.open_sealed(key, sealed, header, aad, cbc=cbc)
    with pytest.raises(AuthenticationFailed):
        sm4.open_sealed(os.urandom(16), sealed, b"hdr", b"aad", cbc=cbc)
    with pytest.raises(AuthenticationFailed):
        sm4.open_sealed(key, sealed[:47], b"hdr", b"aad", cbc=cbc)


def test_sm4_cbc_bad_padding_under_a_valid_mac_is_rejected() -> None:
    # A ciphertext whose MAC verifies but whose padding is wrong (made with the MAC key): still refused.
    key, iv = os.urandom(16), os.urandom(16)
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    ct = enc.update(bytes(16)) + enc.finalize()  # last byte 0x00: invalid PKCS#7
    mac = crypto_hmac.HMAC(sm4.mac_key(key), hashes.SM3())
    mac.update((3).to_bytes(4, "big") + b"hdr" + (0).to_bytes(8, "big") + iv + ct)
    sealed = iv + ct + mac.finalize()
    with pytest.raises(AuthenticationFailed):
        sm4.open_sealed(key, sealed, b"hdr", b"", cbc=True)


def test_cipher_reprs_hide_keys() -> None:
    key = bytes(range(32))
    for c in (symmetric.AesGcmCipher(key), symmetric.Sm4Cipher(key[:16], cbc=True)):
        assert key.hex()[:8] not in repr(c) and "\\x00\\x01" not in repr(c)


@pytest.mark.parametrize("algorithm", list(blob.AlgorithmId))
def test_key_version_of_reads_plain_and_keyed_blobs_and_refuses_the_rest(algorithm: blob.AlgorithmId) -> None:
    plain = blob.pack(algorithm, 7, b"\x00" * 28)
    keyed = blob.keyed(uuid.uuid4().bytes, plain)
    assert blob.key_version_of(plain) == blob.unpack(plain).key_version == 7
    assert blob.key_version_of(keyed) == 7
    for junk in (b"", plain[: blob.HEADER_BYTES], b"\xe0" + plain[1:], plain[:1] + b"\x09" + plain[2:],
                 keyed[: blob.KEYED_PREFIX_BYTES + blob.HEADER_BYTES]):  # fmt: skip
        assert blob.key_version_of(junk) is None
