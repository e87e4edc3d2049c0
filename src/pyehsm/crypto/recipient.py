"""Sealing released plaintext to an attested workload's public key: HPKE (RFC 9180), base mode, single shot.

docs/key-release.md ("Recipient ciphertext") has the format; in short, ``ciphertextForRecipient`` is

    enc || AEAD ciphertext || tag          (cryptography's ``hpke.Suite.encrypt`` output)

with the suite chosen by the recipient key's type and ``info = b"pyehsm key release v1" || nonce`` (the
32-byte challenge nonce of the bundle, so a ciphertext belongs to one release):

| recipient key (SubjectPublicKeyInfo DER) | KEM                      | KDF          | AEAD        |
|------------------------------------------|--------------------------|--------------|-------------|
| X25519                                   | DHKEM(X25519, HKDF-SHA256) | HKDF-SHA256 | AES-256-GCM |
| EC P-256                                 | DHKEM(P-256, HKDF-SHA256)  | HKDF-SHA256 | AES-256-GCM |
| EC P-384                                 | DHKEM(P-384, HKDF-SHA384)  | HKDF-SHA384 | AES-256-GCM |
| EC P-521                                 | DHKEM(P-521, HKDF-SHA512)  | HKDF-SHA512 | AES-256-GCM |

Pure functions over bytes; ``open_sealed`` is the recipient's side (the SDK's helper, tests).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

INFO_PREFIX: Final = b"pyehsm key release v1"
MAX_RECIPIENT_KEY_BYTES: Final = 1024

RecipientPublic = x25519.X25519PublicKey | ec.EllipticCurvePublicKey
RecipientPrivate = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey

_CURVES: Final = {
    "secp256r1": (hpke.KEM.P256, hpke.KDF.HKDF_SHA256),
    "secp384r1": (hpke.KEM.P384, hpke.KDF.HKDF_SHA384),
    "secp521r1": (hpke.KEM.P521, hpke.KDF.HKDF_SHA512),
}
SUPPORTED: Final = "an X25519, P-256, P-384 or P-521 public key (DER SubjectPublicKeyInfo)"


class RecipientKeyError(ValueError):
    """Not a recipient public key pyehsm can seal to (the message says why, no key bytes)."""


class OpenFailed(ValueError):
    """The recipient ciphertext does not open with this private key and nonce."""


@dataclass(frozen=True, slots=True)
class RecipientKey:
    """A parsed recipient public key and the exact DER bytes the quote's report data binds."""

    der: bytes
    public: RecipientPublic


def load_recipient_key(der: bytes) -> RecipientKey:
    """The recipient key in ``der``: canonical DER SubjectPublicKeyInfo of a supported key, else RecipientKeyError."""
    if len(der) > MAX_RECIPIENT_KEY_BYTES:
        raise RecipientKeyError(f"longer than {MAX_RECIPIENT_KEY_BYTES} bytes")
    try:
        public = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise RecipientKeyError(f"not {SUPPORTED}") from None
    if not isinstance(public, x25519.X25519PublicKey | ec.EllipticCurvePublicKey):
        raise RecipientKeyError(f"not {SUPPORTED}")
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name not in _CURVES:
        raise RecipientKeyError(f"the curve {public.curve.name} is not supported ({SUPPORTED})")
    if recipient_der(public) != der:  # the report data binds these exact bytes: one encoding per key
        raise RecipientKeyError("not in canonical DER form (uncompressed point, no trailing bytes)")
    return RecipientKey(der=der, public=public)


def release_report_data(nonce: bytes, recipient_der: bytes) -> bytes:
    """The 64-byte report data a release quote must carry: SHA-512(nonce || recipient key DER), the nonce as
    the 32 raw bytes GetAttestationChallenge returned (base64-decoded) and the key as the exact DER
    SubjectPublicKeyInfo bytes the bundle sends."""
    return hashlib.sha512(nonce + recipient_der).digest()


def recipient_der(public: RecipientPublic) -> bytes:
    """The canonical DER SubjectPublicKeyInfo of a recipient key (EC points uncompressed)."""
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _suite(key: RecipientPublic | RecipientPrivate) -> hpke.Suite:
    if isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey):
        return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    kem, kdf = _CURVES[key.curve.name]
    return hpke.Suite(kem, kdf, hpke.AEAD.AES_256_GCM)


def seal(recipient: RecipientKey, plaintext: bytes, nonce: bytes) -> bytes:
    """``plaintext`` encrypted to the recipient (a fresh ephemeral KEM key each call)."""
    return _suite(recipient.public).encrypt(plaintext, recipient.public, info=INFO_PREFIX + nonce)


def open_sealed(private_key: RecipientPrivate, ciphertext: bytes, nonce: bytes) -> bytes:
    """The recipient's side of ``seal``; OpenFailed for another key, another nonce or a modified ciphertext."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name not in _CURVES:
        raise OpenFailed(f"the curve {private_key.curve.name} is not supported")
    try:
        return _suite(private_key).decrypt(ciphertext, private_key, info=INFO_PREFIX + nonce)
    except (InvalidTag, ValueError):
        raise OpenFailed("the recipient ciphertext does not open with this key and nonce") from None
