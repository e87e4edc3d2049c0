"""GetPublicKey, AsymmetricEncrypt/Decrypt, Sign/Verify and ExportDataKey end to end over HTTP against a
real `pyehsm serve`: every valid keyspec x padding x digest x message_type combination, signatures
checked independently with the PEM from GetPublicKey, and the invalid requests the issue lists."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from pyehsm.client import Client
from pyehsm.clock import ManualClock, SystemClock
from pyehsm.crypto.sm2 import SM2PublicKey
from tests.support.server import InProcessServer, ServerProcess

RSA_SIZES = {"EH_RSA_2048": 2048, "EH_RSA_3072": 3072, "EH_RSA_4096": 4096}
EC_CURVES = {
    "EH_EC_P224": "secp224r1",
    "EH_EC_P256": "secp256r1",
    "EH_EC_P256K": "secp256k1",
    "EH_EC_P384": "secp384r1",
    "EH_EC_P521": "secp521r1",
}
SHA2 = ("EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512")
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}
SIGN = "EH_KEYUSAGE_SIGN_VERIFY"
ENC = "EH_KEYUSAGE_ENCRYPT_DECRYPT"
MSG = b"pyehsm end-to-end message \x00\xff"
# Paddings sent with non-RSA keys: all accepted and ignored (None = field absent).
IGNORED_PADDINGS = (None, "EH_RSA_PKCS1", "EH_PAD_NONE", "EH_RSA_PKCS1_OAEP", "EH_RSA_PKCS1_PSS")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[name]())
    h.update(data)
    return h.finalize()


def payload(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class DistinctMsClock(SystemClock):
    """System time, but never the same millisecond twice: the official signature does not cover the
    Action, so two requests with equal payloads in one millisecond would be (rightly) refused as replays."""

    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        self._last = max(super().now_ms(), self._last + 1)
        return self._last


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> Iterator[Client]:
    with server.client(clock=DistinctMsClock()) as c:
        yield c


@pytest.fixture(scope="module")
def keys(app: Client) -> dict[str, str]:
    """One key per keyspec and usage, created once for the module (RSA-4096 keygen is slow)."""
    out = {f"sign:{spec}": app.create_key(spec, keyusage=SIGN) for spec in RSA_SIZES}
    out.update({f"enc:{spec}": app.create_key(spec) for spec in RSA_SIZES})
    out.update({f"sign:{spec}": app.create_key(spec) for spec in EC_CURVES})  # EC default: SIGN_VERIFY
    out["sign:EH_SM2"] = app.create_key("EH_SM2", keyusage=SIGN)
    out["enc:EH_SM2"] = app.create_key("EH_SM2")
    out["sign:EH_HMAC"] = app.create_key("EH_HMAC")  # default SIGN_VERIFY
    out["aes"] = app.create_key("EH_AES_GCM_256")
    out["sm4"] = app.create_key("EH_SM4_CBC")
    return out


@pytest.fixture(scope="module")
def pems(app: Client, keys: dict[str, str]) -> dict[str, str]:
    return {name: app.get_public_key(keyid) for name, keyid in keys.items() if "EH_HMAC" not in name and ":" in name}


def sign_payload(
    keyid: str, message: bytes, message_type: str, digest_mode: str | None, pad: str | None
) -> dict[str, Any]:
    return payload(
        keyid=keyid, message=b64(message), message_type=message_type, digest_mode=digest_mode, padding_mode=pad
    )


def sign(app: Client, keyid: str, message: bytes, message_type: str, digest_mode: str | None, pad: str | None) -> bytes:
    return unb64(app.call("Sign", sign_payload(keyid, message, message_type, digest_mode, pad))["signature"])


def verify(
    app: Client, keyid: str, message: bytes, sig: bytes, message_type: str, digest_mode: str | None, pad: str | None
) -> bool:
    body = sign_payload(keyid, message, message_type, digest_mode, pad)
    body["signature"] = b64(sig)
    result = app.call("Verify", body)
    assert set(result) == {"result"} and isinstance(result["result"], bool)
    return bool(result["result"])


def error(app: Client, action: str, body: dict[str, Any]) -> str:
    response = app.request(action, body)
    assert response.code == 400, (action, response)
    assert response.result == {}
    return response.message


# -------------------------------------------------------------------------------------------------
# GetPublicKey
# -------------------------------------------------------------------------------------------------


def test_get_public_key_is_pkcs1_pem_for_rsa_and_spki_pem_for_ec_and_sm2(pems: dict[str, str]) -> None:
    """RSA keys as PKCS#1 (what Intel's server emits and Intel's Rust SDK parses), the others as SPKI."""
    for name, pem in pems.items():
        spec = name.split(":")[1]
        kind = "RSA PUBLIC KEY" if spec in RSA_SIZES else "PUBLIC KEY"
        assert pem.startswith(f"-----BEGIN {kind}-----\n") and pem.endswith(f"-----END {kind}-----\n"), name
        if spec in RSA_SIZES:
            key = serialization.load_pem_public_key(pem.encode())
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == RSA_SIZES[spec]
        elif spec in EC_CURVES:
            key = serialization.load_pem_public_key(pem.encode())
            assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == EC_CURVES[spec]
        else:
            assert SM2PublicKey.from_pem(pem).to_pem() == pem
    assert len(pems) == 3 + 3 + 5 + 2
    assert pems["sign:EH_RSA_2048"] != pems["enc:EH_RSA_2048"]


def test_get_public_key_refused_for_symmetric_keys(app: Client, keys: dict[str, str]) -> None:
    for name, spec in (("aes", "EH_AES_GCM_256"), ("sm4", "EH_SM4_CBC"), ("sign:EH_HMAC", "EH_HMAC")):
        assert error(app, "GetPublicKey", {"keyid": keys[name]}) == f"The keyspec {spec} does not support GetPublicKey."


# -------------------------------------------------------------------------------------------------
# Sign / Verify: every valid combination
# -------------------------------------------------------------------------------------------------

RSA_CASES = list(itertools.product(RSA_SIZES, ("EH_RSA_PKCS1", "EH_RSA_PKCS1_PSS"), SHA2, ("EH_RAW", "EH_DIGEST")))
EC_CASES = [
    (spec, IGNORED_PADDINGS[i % len(IGNORED_PADDINGS)], d, mt)
    for i, (spec, d, mt) in enumerate(itertools.product(EC_CURVES, SHA2, ("EH_RAW", "EH_DIGEST")))
]
SM2_CASES = [("EH_SM2", pad, "EH_SM3", mt) for pad in (None, "EH_RSA_PKCS1_PSS") for mt in ("EH_RAW", "EH_DIGEST")]


def independent_verify(pem: str, spec: str, pad: str | None, digest_mode: str, sig: bytes, message: bytes) -> None:
    """Check a pyehsm signature with cryptography / the SM2 module, from the published PEM only."""
    if spec == "EH_SM2":
        assert SM2PublicKey.from_pem(pem).verify(sig, message)  # default user id 1234567812345678
        return
    key = serialization.load_pem_public_key(pem.encode())
    alg = HASHES[digest_mode]()
    if isinstance(key, rsa.RSAPublicKey):
        assert len(sig) == RSA_SIZES[spec] // 8
        if pad == "EH_RSA_PKCS1_PSS":
            salt = alg.digest_size  # pyehsm signs PSS with salt length = digest length
            key.verify(sig, message, padding.PSS(padding.MGF1(alg), salt), alg)
        else:
            key.verify(sig, message, padding.PKCS1v15(), alg)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(sig, message, ec.ECDSA(alg))
        key.verify(sig, digest(digest_mode, message), ec.ECDSA(Prehashed(alg)))


@pytest.mark.parametrize(("spec", "pad", "digest_mode", "message_type"), RSA_CASES + EC_CASES + SM2_CASES)
def test_sign_verify(
    app: Client,
    keys: dict[str, str],
    pems: dict[str, str],
    spec: str,
    pad: str | None,
    digest_mode: str,
    message_type: str,
) -> None:
    keyid = keys[f"sign:{spec}"]
    message = digest(digest_mode, MSG) if message_type == "EH_DIGEST" else MSG
    sig = sign(app, keyid, message, message_type, digest_mode, pad)
    assert verify(app, keyid, message, sig, message_type, digest_mode, pad)
    if spec == "EH_SM2":
        # As Intel's server: SM3-with-identity over the bytes sent, for EH_DIGEST too (SM3(Z_A || d)).
        independent_verify(pems[f"sign:{spec}"], spec, pad, digest_mode, sig, message)
        if message_type == "EH_DIGEST":
            assert verify(app, keyid, message, sig, "EH_RAW", digest_mode, pad)
            assert not verify(app, keyid, MSG, sig, "EH_RAW", digest_mode, pad)
    else:
        independent_verify(pems[f"sign:{spec}"], spec, pad, digest_mode, sig, MSG)
        # RAW and DIGEST are the same signature: each verifies the other way too.
        if message_type == "EH_DIGEST":
            assert verify(app, keyid, MSG, sig, "EH_RAW", digest_mode, pad)
        else:
            assert verify(app, keyid, digest(digest_mode, MSG), sig, "EH_DIGEST", digest_mode, pad)
    # Wrong message, wrong signature: result false, not an error.
    tampered = bytes([message[0] ^ 1]) + message[1:]
    assert not verify(app, keyid, tampered, sig, message_type, digest_mode, pad)
    assert not verify(app, keyid, message, sig[:-1] + bytes([sig[-1] ^ 1]), message_type, digest_mode, pad)


@pytest.mark.parametrize("digest_mode", [*SHA2, "EH_SM3"])
def test_hmac_sign_verify(app: Client, keys: dict[str, str], digest_mode: str) -> None:
    keyid = keys["sign:EH_HMAC"]
    tag = sign(app, keyid, MSG, "EH_RAW", digest_mode, "EH_RSA_PKCS1")
    assert len(tag) == HASHES[digest_mode]().digest_size
    assert tag == sign(app, keyid, MSG, "EH_RAW", digest_mode, None)  # deterministic; padding ignored
    assert verify(app, keyid, MSG, tag, "EH_RAW", digest_mode, None)
    assert not verify(app, keyid, MSG + b"x", tag, "EH_RAW", digest_mode, None)
    assert not verify(app, keyid, MSG, tag[:-1], "EH_RAW", digest_mode, None)
    msg = error(app, "Sign", sign_payload(keyid, digest(digest_mode, MSG), "EH_DIGEST", digest_mode, None))
    assert msg == "Parameter invalid, The message_type EH_DIGEST cannot be used with HMAC keys (send EH_RAW)."


def test_digest_mode_defaults(app: Client, keys: dict[str, str], pems: dict[str, str]) -> None:
    """No digest_mode: EH_SHA_256 for RSA and EC, EH_SM3 for SM2, EH_SHA_256 for HMAC."""
    for spec, pad in (("EH_RSA_2048", "EH_RSA_PKCS1"), ("EH_EC_P384", None), ("EH_SM2", None)):
        sig = sign(app, keys[f"sign:{spec}"], MSG, "EH_RAW", None, pad)
        independent_verify(pems[f"sign:{spec}"], spec, pad, "EH_SM3" if spec == "EH_SM2" else "EH_SHA_256", sig, MSG)
        assert verify(app, keys[f"sign:{spec}"], MSG, sig, "EH_RAW", None, pad)
    tag = sign(app, keys["sign:EH_HMAC"], MSG, "EH_RAW", None, None)
    assert tag == sign(app, keys["sign:EH_HMAC"], MSG, "EH_RAW", "EH_SHA_256", None)
    # A 32-byte digest is right for the defaults, a 48-byte one is not.
    assert sign(app, keys["sign:EH_EC_P256"], b"\x01" * 32, "EH_DIGEST", None, None)
    assert "message length error" in error(
        app, "Sign", sign_payload(keys["sign:EH_EC_P256"], b"\x01" * 48, "EH_DIGEST", None, None)
    )


def test_sdk_style_client_methods(app: Client, keys: dict[str, str]) -> None:
    keyid = keys["sign:EH_EC_P256"]
    sig = app.sign(keyid, MSG, "EH_SHA_256", "EH_RSA_PKCS1")
    assert app.verify(keyid, MSG, sig, "EH_SHA_256", "EH_RSA_PKCS1")
    assert not app.verify(keyid, MSG + b"?", sig, "EH_SHA_256", "EH_RSA_PKCS1")


# -------------------------------------------------------------------------------------------------
# AsymmetricEncrypt / AsymmetricDecrypt
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", list(RSA_SIZES))
@pytest.mark.parametrize(("pad", "overhead"), [("EH_RSA_PKCS1", 11), ("EH_RSA_PKCS1_OAEP", 66)])
def test_rsa_encrypt_decrypt_and_limits(app: Client, keys: dict[str, str], spec: str, pad: str, overhead: int) -> None:
    keyid = keys[f"enc:{spec}"]
    k = RSA_SIZES[spec] // 8
    limit = k - overhead
    for data in (b"\x00", bytes(range(256)) * 2):
        pt = data[:limit]
        ct = app.asymmetric_encrypt(keyid, pt, pad)
        assert len(ct) == k
        assert app.asymmetric_decrypt(keyid, ct, pad) == pt
    # Both paddings are randomized: the same request twice (distinct nonces) gives distinct ciphertexts.
    body = {"keyid": keyid, "plaintext": b64(b"\x07" * limit), "padding_mode": pad}
    first, second = (app.post_raw("AsymmetricEncrypt", app.envelope(body, nonce=n)).raise_for_code() for n in "ab")
    assert first["ciphertext"] != second["ciphertext"]
    too_long = error(
        app, "AsymmetricEncrypt", {"keyid": keyid, "plaintext": b64(b"x" * (limit + 1)), "padding_mode": pad}
    )
    assert too_long.startswith("Parameter invalid, The plaintext length error")
    assert f"at most {limit} bytes" in too_long


def test_sm2_encrypt_decrypt_ignores_padding(app: Client, keys: dict[str, str]) -> None:
    keyid = keys["enc:EH_SM2"]
    for pad in IGNORED_PADDINGS:
        body = payload(keyid=keyid, plaintext=b64(b"sm2 over http"), padding_mode=pad)
        ct = unb64(app.call("AsymmetricEncrypt", body)["ciphertext"])
        assert ct[0] == 0x30  # GM/T 0009 DER
        for dpad in (None, "EH_PAD_NONE"):
            assert (
                unb64(
                    app.call("AsymmetricDecrypt", payload(keyid=keyid, ciphertext=b64(ct), padding_mode=dpad))[
                        "plaintext"
                    ]
                )
                == b"sm2 over http"
            )
    big = b"\x5a" * 6144
    assert app.asymmetric_decrypt(keyid, app.asymmetric_encrypt(keyid, big, "EH_PAD_NONE"), "EH_PAD_NONE") == big
    assert "plaintext length error" in error(app, "AsymmetricEncrypt", {"keyid": keyid, "plaintext": b64(big + b"x")})


def test_decrypt_failures(app: Client, keys: dict[str, str]) -> None:
    failed = "Decrypt failed: the ciphertext was not made with this key's public key, or it was modified."
    rsa_key = keys["enc:EH_RSA_2048"]
    ct = app.asymmetric_encrypt(rsa_key, b"secret", "EH_RSA_PKCS1_OAEP")
    bad = bytes([ct[0] ^ 1]) + ct[1:]
    assert (
        error(app, "AsymmetricDecrypt", {"keyid": rsa_key, "ciphertext": b64(bad), "padding_mode": "EH_RSA_PKCS1_OAEP"})
        == failed
    )
    assert (
        error(
            app,
            "AsymmetricDecrypt",
            {"keyid": rsa_key, "ciphertext": b64(ct[:-1]), "padding_mode": "EH_RSA_PKCS1_OAEP"},
        )
        == failed
    )
    # Another key's ciphertext.
    other = app.asymmetric_encrypt(keys["enc:EH_RSA_3072"], b"secret", "EH_RSA_PKCS1_OAEP")
    assert (
        error(
            app, "AsymmetricDecrypt", {"keyid": rsa_key, "ciphertext": b64(other), "padding_mode": "EH_RSA_PKCS1_OAEP"}
        )
        == failed
    )
    sm2_key = keys["enc:EH_SM2"]
    ct = app.asymmetric_encrypt(sm2_key, b"secret", "EH_PAD_NONE")
    assert (
        error(app, "AsymmetricDecrypt", {"keyid": sm2_key, "ciphertext": b64(ct[:-1] + bytes([ct[-1] ^ 1]))}) == failed
    )


# -------------------------------------------------------------------------------------------------
# ExportDataKey
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "pad"),
    [
        ("enc:EH_RSA_2048", None),
        ("enc:EH_RSA_3072", "EH_RSA_PKCS1"),
        ("enc:EH_RSA_2048", "EH_RSA_PKCS1_OAEP"),
        ("enc:EH_SM2", "EH_RSA_PKCS1_OAEP"),
        ("enc:EH_SM2", None),
    ],
)
@pytest.mark.parametrize("field", ["olddatakey_base", "old_data_key", "olddatakey"])
def test_export_data_key(app: Client, keys: dict[str, str], target: str, pad: str | None, field: str) -> None:
    data_key, wrapped = app.generate_data_key(keys["aes"], 32, aad=b"export-ctx")
    body = payload(keyid=keys["aes"], ukeyid=keys[target], aad=b64(b"export-ctx"), padding_mode=pad)
    body[field] = b64(wrapped)
    new = unb64(app.call("ExportDataKey", body)["newdatakey"])
    assert new != data_key
    # The holder of the private key recovers exactly the data key (RSA default padding: OAEP).
    assert app.asymmetric_decrypt(keys[target], new, pad or "EH_RSA_PKCS1_OAEP") == data_key


def test_export_data_key_without_plaintext_and_sm4(app: Client, keys: dict[str, str]) -> None:
    wrapped = app.generate_data_key_without_plaintext(keys["sm4"], 48)
    new = app.export_data_key(keys["sm4"], keys["enc:EH_RSA_4096"], wrapped)
    assert app.asymmetric_decrypt(keys["enc:EH_RSA_4096"], new, "EH_RSA_PKCS1_OAEP") == app.decrypt(
        keys["sm4"], wrapped
    )


def test_export_data_key_errors(app: Client, keys: dict[str, str]) -> None:
    _, wrapped = app.generate_data_key(keys["aes"], 32, aad=b"ctx")
    base = {"keyid": keys["aes"], "ukeyid": keys["enc:EH_RSA_2048"], "aad": b64(b"ctx")}
    assert error(app, "ExportDataKey", base) == "Missing required parameters, The olddatakey cannot be empty."
    two = {**base, "olddatakey": b64(wrapped), "old_data_key": b64(wrapped[:-1] + b"\0")}
    assert "given twice" in error(app, "ExportDataKey", two)
    same = {**base, "olddatakey": b64(wrapped), "old_data_key": b64(wrapped)}
    assert app.asymmetric_decrypt(
        keys["enc:EH_RSA_2048"], unb64(app.call("ExportDataKey", same)["newdatakey"]), "EH_RSA_PKCS1_OAEP"
    )
    wrong_aad = {**base, "olddatakey": b64(wrapped), "aad": b64(b"other")}
    assert error(app, "ExportDataKey", wrong_aad).startswith("Decrypt failed")
    for ukey, expected in (
        (keys["sign:EH_EC_P256"], "The keyspec EH_EC_P256 does not support AsymmetricEncrypt."),
        (
            keys["sign:EH_RSA_2048"],
            "The keyusage EH_KEYUSAGE_SIGN_VERIFY of this key does not allow AsymmetricEncrypt.",
        ),
        (keys["aes"], "The keyspec EH_AES_GCM_256 does not support AsymmetricEncrypt."),
    ):
        assert error(app, "ExportDataKey", {**base, "olddatakey": b64(wrapped), "ukeyid": ukey}) == expected
    bad_pad = {**base, "olddatakey": b64(wrapped), "padding_mode": "EH_RSA_PKCS1_PSS"}
    assert "cannot be used for RSA encryption" in error(app, "ExportDataKey", bad_pad)
    _, big = app.generate_data_key(keys["aes"], 1024)
    too_long = {"keyid": keys["aes"], "ukeyid": keys["enc:EH_RSA_2048"], "olddatakey": b64(big)}
    assert error(app, "ExportDataKey", too_long).startswith("Parameter invalid, The data key length error")
    # The symmetric keyid must be a symmetric encryption key.
    swapped = {"keyid": keys["enc:EH_RSA_2048"], "ukeyid": keys["enc:EH_RSA_2048"], "olddatakey": b64(wrapped)}
    assert error(app, "ExportDataKey", swapped) == "The keyspec EH_RSA_2048 does not support Encrypt."


# -------------------------------------------------------------------------------------------------
# invalid requests
# -------------------------------------------------------------------------------------------------


def test_wrong_digest_length(app: Client, keys: dict[str, str]) -> None:
    for spec, digest_mode, pad in (
        ("EH_RSA_2048", "EH_SHA_384", "EH_RSA_PKCS1"),
        ("EH_RSA_4096", "EH_SHA_224", "EH_RSA_PKCS1_PSS"),
        ("EH_EC_P521", "EH_SHA_512", None),
        ("EH_SM2", "EH_SM3", None),
    ):
        for action in ("Sign", "Verify"):
            body = sign_payload(keys[f"sign:{spec}"], b"\x02" * 20, "EH_DIGEST", digest_mode, pad)
            if action == "Verify":
                body["signature"] = b64(b"\x30\x00")
            message = error(app, action, body)
            assert message.startswith("Parameter invalid, The message length error"), message


SIGN_PADS = "(use EH_RSA_PKCS1 or EH_RSA_PKCS1_PSS)"
ENC_PADS = "(use EH_RSA_PKCS1 or EH_RSA_PKCS1_OAEP)"


def test_wrong_padding_for_rsa(app: Client, keys: dict[str, str]) -> None:
    for bad in ("EH_PAD_NONE", "EH_RSA_PKCS1_OAEP"):
        msg = error(app, "Sign", sign_payload(keys["sign:EH_RSA_2048"], MSG, "EH_RAW", "EH_SHA_256", bad))
        assert msg == f"Parameter invalid, The padding_mode {bad} cannot be used for RSA signatures {SIGN_PADS}."
    for bad in ("EH_PAD_NONE", "EH_RSA_PKCS1_PSS"):
        msg = error(
            app, "AsymmetricEncrypt", {"keyid": keys["enc:EH_RSA_2048"], "plaintext": b64(b"x"), "padding_mode": bad}
        )
        assert msg == f"Parameter invalid, The padding_mode {bad} cannot be used for RSA encryption {ENC_PADS}."
    assert error(app, "Sign", sign_payload(keys["sign:EH_RSA_2048"], MSG, "EH_RAW", "EH_SHA_256", None)) == (
        "Missing required parameters, The padding_mode cannot be empty."
    )
    assert error(app, "AsymmetricEncrypt", {"keyid": keys["enc:EH_RSA_2048"], "plaintext": b64(b"x")}) == (
        "Missing required parameters, The padding_mode cannot be empty."
    )
    assert error(app, "Sign", sign_payload(keys["sign:EH_RSA_2048"], MSG, "EH_RAW", "EH_SHA_256", "EH_FOO")) == (
        "Parameter invalid, The padding_mode type is incorrect."
    )


def test_wrong_digest_mode_for_family(app: Client, keys: dict[str, str]) -> None:
    assert "EH_SM3 cannot be used with RSA keys" in error(
        app, "Sign", sign_payload(keys["sign:EH_RSA_3072"], MSG, "EH_RAW", "EH_SM3", "EH_RSA_PKCS1")
    )
    assert "EH_SM3 cannot be used with EC keys" in error(
        app, "Sign", sign_payload(keys["sign:EH_EC_P256K"], MSG, "EH_RAW", "EH_SM3", None)
    )
    assert "EH_SHA_256 cannot be used with SM2 keys (use EH_SM3)" in error(
        app, "Sign", sign_payload(keys["sign:EH_SM2"], MSG, "EH_RAW", "EH_SHA_256", None)
    )
    assert error(app, "Sign", sign_payload(keys["sign:EH_EC_P256"], MSG, "EH_RAW", "EH_MD5", None)) == (
        "Parameter invalid, The digest_mode type is incorrect."
    )


def test_payload_validation(app: Client, keys: dict[str, str]) -> None:
    keyid = keys["sign:EH_EC_P256"]
    assert (
        error(app, "Sign", {"keyid": keyid, "message": b64(MSG)})
        == "Missing required parameters, The message_type cannot be empty."
    )
    assert (
        error(app, "Sign", {"keyid": keyid, "message_type": "EH_RAW"})
        == "Missing required parameters, The message cannot be empty."
    )
    assert (
        error(app, "Sign", {"keyid": keyid, "message": b64(b"x" * 6145), "message_type": "EH_RAW"})
        == "Parameter invalid, The message length error."
    )
    assert "not a valid base64" in error(
        app, "Verify", {"keyid": keyid, "message": b64(MSG), "message_type": "EH_RAW", "signature": "%%%"}
    )
    assert (
        error(app, "Verify", {"keyid": keyid, "message": b64(MSG), "message_type": "EH_RAW"})
        == "Missing required parameters, The signature cannot be empty."
    )
    assert (
        error(app, "AsymmetricEncrypt", {"keyid": keys["enc:EH_SM2"], "plaintext": b64(b"x" * 6145)})
        == "Parameter invalid, The plaintext length error."
    )
    assert error(app, "GetPublicKey", {}) == "Missing required parameters, The keyid cannot be empty."
    # A garbage but well-formed signature is a false result, not an error.
    assert not verify(app, keyid, MSG, b"\x01\x02\x03", "EH_RAW", "EH_SHA_256", None)
    assert not verify(app, keys["sign:EH_RSA_2048"], MSG, b"\x01" * 300, "EH_RAW", "EH_SHA_256", "EH_RSA_PKCS1")


def test_key_usage_and_keyspec_enforced(app: Client, keys: dict[str, str]) -> None:
    def sign_error(keyid: str) -> str:
        return error(app, "Sign", sign_payload(keyid, MSG, "EH_RAW", "EH_SHA_256", "EH_RSA_PKCS1"))

    def encrypt_error(keyid: str) -> str:
        return error(app, "AsymmetricEncrypt", {"keyid": keyid, "plaintext": b64(b"x"), "padding_mode": "EH_RSA_PKCS1"})

    # Symmetric keys cannot sign (HMAC can: it is a SIGN_VERIFY key).
    assert sign_error(keys["aes"]) == "The keyspec EH_AES_GCM_256 does not support Sign."
    assert sign_error(keys["sm4"]) == "The keyspec EH_SM4_CBC does not support Sign."
    # ENCRYPT_DECRYPT keys refuse Sign/Verify; SIGN_VERIFY keys refuse AsymmetricEncrypt/Decrypt.
    for name in ("enc:EH_RSA_2048", "enc:EH_SM2"):
        assert sign_error(keys[name]) == "The keyusage EH_KEYUSAGE_ENCRYPT_DECRYPT of this key does not allow Sign."
        verify_body = {**sign_payload(keys[name], MSG, "EH_RAW", "EH_SHA_256", "EH_RSA_PKCS1"), "signature": b64(b"s")}
        assert error(app, "Verify", verify_body).endswith("does not allow Sign.")
    for name in ("sign:EH_RSA_2048", "sign:EH_SM2"):
        assert (
            encrypt_error(keys[name])
            == "The keyusage EH_KEYUSAGE_SIGN_VERIFY of this key does not allow AsymmetricEncrypt."
        )
        body = {"keyid": keys[name], "ciphertext": b64(b"c" * 256), "padding_mode": "EH_RSA_PKCS1"}
        assert error(app, "AsymmetricDecrypt", body).endswith("does not allow AsymmetricEncrypt.")
    for name in ("sign:EH_EC_P256", "sign:EH_HMAC", "aes"):
        assert "does not support AsymmetricEncrypt" in encrypt_error(keys[name])
    # EC keys created with ENCRYPT_DECRYPT are stored (Intel's SDK tests do this) but cannot do anything.
    ec_enc = app.create_key("EH_EC_P256", keyusage=ENC)
    assert sign_error(ec_enc).endswith("does not allow Sign.")
    assert "does not support AsymmetricEncrypt" in encrypt_error(ec_enc)
    assert app.get_public_key(ec_enc).startswith("-----BEGIN PUBLIC KEY-----")


def test_disabled_key_refused_then_enabled_again(app: Client) -> None:
    sign_key = app.create_key("EH_EC_P256")
    enc_key = app.create_key("EH_SM2")
    sig = app.sign(sign_key, MSG, "EH_SHA_256", "EH_PAD_NONE")
    ct = app.asymmetric_encrypt(enc_key, b"x", "EH_PAD_NONE")
    app.disable_key(sign_key)
    app.disable_key(enc_key)
    requests = [
        ("GetPublicKey", {"keyid": sign_key}),
        ("Sign", sign_payload(sign_key, MSG, "EH_RAW", "EH_SHA_256", None)),
        ("Verify", {**sign_payload(sign_key, MSG, "EH_RAW", "EH_SHA_256", None), "signature": b64(sig)}),
        ("AsymmetricEncrypt", {"keyid": enc_key, "plaintext": b64(b"x")}),
        ("AsymmetricDecrypt", {"keyid": enc_key, "ciphertext": b64(ct)}),
        ("GetPublicKey", {"keyid": enc_key}),
    ]
    for action, body in requests:
        assert error(app, action, body) == "keyid is disabled", action
    app.enable_key(sign_key)
    app.enable_key(enc_key)
    assert app.verify(sign_key, MSG, sig, "EH_SHA_256", "EH_PAD_NONE")
    assert app.asymmetric_decrypt(enc_key, ct, "EH_PAD_NONE") == b"x"


def test_another_apps_key_answers_keyid_error(app: Client, other_client: Client, keys: dict[str, str]) -> None:
    _, wrapped = app.generate_data_key(keys["aes"], 16)
    foreign_sign, foreign_enc = keys["sign:EH_RSA_2048"], keys["enc:EH_RSA_2048"]
    own_aes = other_client.create_key("EH_AES_GCM_128")
    _, own_wrapped = other_client.generate_data_key(own_aes, 16)
    own_rsa = other_client.create_key("EH_RSA_2048")
    requests = [
        ("GetPublicKey", {"keyid": foreign_sign}),
        ("Sign", sign_payload(foreign_sign, MSG, "EH_RAW", "EH_SHA_256", "EH_RSA_PKCS1")),
        ("Verify", {**sign_payload(foreign_sign, MSG, "EH_RAW", "EH_SHA_256", "EH_RSA_PKCS1"), "signature": b64(b"s")}),
        ("AsymmetricEncrypt", {"keyid": foreign_enc, "plaintext": b64(b"x"), "padding_mode": "EH_RSA_PKCS1"}),
        ("AsymmetricDecrypt", {"keyid": foreign_enc, "ciphertext": b64(b"c" * 256), "padding_mode": "EH_RSA_PKCS1"}),
        # foreign ukeyid with an own data key, and an own ukeyid with a foreign symmetric key
        ("ExportDataKey", {"keyid": own_aes, "ukeyid": foreign_enc, "olddatakey": b64(own_wrapped)}),
        ("ExportDataKey", {"keyid": keys["aes"], "ukeyid": own_rsa, "olddatakey": b64(wrapped)}),
        ("GetPublicKey", {"keyid": "00000000-0000-4000-8000-000000000000"}),
    ]
    for action, body in requests:
        assert error(other_client, action, body) == "keyid error", action


# -------------------------------------------------------------------------------------------------
# parsed-key cache
# -------------------------------------------------------------------------------------------------


def test_parsed_keys_are_cached_and_evicted_on_disable_and_delete(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    cache = manual_server.runtime.keyring.cache

    def tick() -> None:  # requests with equal payloads need distinct timestamps (replay guard)
        clock.advance(ms=1)

    keyid = manual_client.create_key("EH_EC_P256")
    manual_client.sign(keyid, MSG, "EH_SHA_256", "EH_PAD_NONE")
    first = cache.get((keyid, 1))
    assert first is not None
    tick()
    manual_client.get_public_key(keyid)
    sig = manual_client.sign(keyid, MSG, "EH_SHA_384", "EH_PAD_NONE")
    assert cache.get((keyid, 1)) is first  # parsed once, reused
    tick()
    manual_client.disable_key(keyid)
    assert cache.get((keyid, 1)) is None
    tick()
    manual_client.enable_key(keyid)
    assert manual_client.verify(keyid, MSG, sig, "EH_SHA_384", "EH_PAD_NONE")
    second = cache.get((keyid, 1))
    assert second is not None and second is not first
    tick()
    manual_client.delete_key(keyid)
    assert cache.get((keyid, 1)) is None
    assert manual_client.request("Sign", sign_payload(keyid, MSG, "EH_RAW", None, None)).message == "keyid error"
