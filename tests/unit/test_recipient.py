"""Recipient sealing (crypto/recipient.py): HPKE base mode per recipient key type, only the recipient's
private key and the release's nonce open it, canonical DER keys only, and the report-data binding."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from pyehsm.crypto.recipient import (
    OpenFailed,
    RecipientKeyError,
    RecipientPrivate,
    load_recipient_key,
    open_sealed,
    recipient_der,
    release_report_data,
    seal,
)

NONCE = bytes(range(32))


def private_keys() -> list[RecipientPrivate]:
    return [
        x25519.X25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP521R1()),
    ]


@pytest.mark.parametrize("private", private_keys(), ids=["x25519", "p256", "p384", "p521"])
def test_round_trip_and_only_the_recipient_opens(private: RecipientPrivate) -> None:
    recipient = load_recipient_key(recipient_der(private.public_key()))
    sealed = seal(recipient, b"data key", NONCE)
    assert b"data key" not in sealed
    assert open_sealed(private, sealed, NONCE) == b"data key"
    assert seal(recipient, b"data key", NONCE) != sealed  # a fresh ephemeral key each time
    other: RecipientPrivate = (
        x25519.X25519PrivateKey.generate()
        if isinstance(private, x25519.X25519PrivateKey)
        else ec.generate_private_key(private.curve)
    )
    with pytest.raises(OpenFailed):
        open_sealed(other, sealed, NONCE)
    with pytest.raises(OpenFailed):
        open_sealed(private, sealed, bytes(32))  # another release's nonce
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(OpenFailed):
        open_sealed(private, bytes(tampered), NONCE)


def test_unsupported_and_non_canonical_keys_are_refused() -> None:
    rsa_der = recipient_der_of(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    ed_der = recipient_der_of(ed25519.Ed25519PrivateKey.generate().public_key())
    k1_der = recipient_der_of(ec.generate_private_key(ec.SECP256K1()).public_key())
    point = ec.generate_private_key(ec.SECP256R1()).public_key()
    compressed = point.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    compressed_der = _compressed_spki(point)
    for der, reason in (
        (rsa_der, "not an X25519"),
        (ed_der, "not an X25519"),
        (k1_der, "secp256k1 is not supported"),
        (b"\x30\x00", "not an X25519"),
        (compressed + b"\x00", "not an X25519"),
        (compressed_der, "canonical DER"),
        (b"\x30" * 2000, "longer than"),
    ):
        with pytest.raises(RecipientKeyError) as exc:
            load_recipient_key(der)
        assert reason in str(exc.value), (reason, str(exc.value))


def recipient_der_of(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _compressed_spki(public: ec.EllipticCurvePublicKey) -> bytes:
    """The same P-256 key with its point compressed (a valid SPKI, but not the canonical encoding)."""
    canonical = recipient_der(public)
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    header = canonical[: canonical.index(b"\x03\x42\x00")]  # SEQUENCE { algorithm } then BIT STRING
    algorithm = header[2:]
    bit_string = b"\x03" + bytes([len(point) + 1, 0]) + point
    body = algorithm + bit_string
    return b"\x30" + bytes([len(body)]) + body


def test_report_data_layout() -> None:
    der = recipient_der(x25519.X25519PrivateKey.generate().public_key())
    assert release_report_data(NONCE, der) == hashlib.sha512(NONCE + der).digest()
    assert len(release_report_data(NONCE, der)) == 64
