"""Ed25519 signatures are made by libsodium (crypto/ed25519.py) and must be exactly RFC 8032's: the RFC's
own vectors, and the same bytes as OpenSSL (through ``cryptography``) for any key and message."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.crypto.keyspecs import keyspec

SPEC = keyspec("EH_ED25519")

# RFC 8032 section 7.1, TEST 1 and TEST 2: (secret key, public key, message, signature), hex
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def _pair(seed: bytes) -> tuple[object, ed25519.Ed25519PrivateKey]:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SPEC.load(der), private


def _sign(pair: object, message: bytes) -> bytes:
    return pair.sign(message, digest="EH_SHA_512", prehashed=False, padding=None)  # type: ignore[attr-defined, no-any-return]


def test_rfc8032_vectors() -> None:
    for secret, public, message, signature in RFC8032:
        pair, _ = _pair(bytes.fromhex(secret))
        assert _sign(pair, bytes.fromhex(message)).hex() == signature
        spki = serialization.load_pem_public_key(pair.public_pem().encode())  # type: ignore[attr-defined]
        assert spki.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex() == public


@settings(max_examples=200, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=2048))
def test_same_signature_as_openssl(seed: bytes, message: bytes) -> None:
    pair, private = _pair(seed)
    signature = _sign(pair, message)
    assert signature == private.sign(message)
    assert pair.verify(signature, message, digest="EH_SHA_512", prehashed=False, padding=None)  # type: ignore[attr-defined]
