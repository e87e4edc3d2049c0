"""The X25519 key family (EH_X25519): Diffie-Hellman on Curve25519 (RFC 7748) over ``cryptography``.

DeriveSharedSecret only (usage EH_KEYUSAGE_KEY_AGREEMENT): the 32-byte X25519(k, u) with a peer's
SubjectPublicKeyInfo (OID 1.3.101.110, RFC 8410). A peer key of small order, whose shared secret would be
all zeros (RFC 7748 section 6.1), is refused. Keys are PKCS#8 DER; BYOK accepts an unencrypted PKCS#8
X25519 key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from pyehsm.crypto.family import (
    KeyUsage,
    Operation,
    no_encryption,
    no_signing,
)
from pyehsm.crypto.pkcs8_family import Pkcs8Family
from pyehsm.errors import MalformedParameter

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

OID_X25519 = bytes.fromhex("2b656e")  # 1.3.101.110
_INVALID = "not a valid X25519 public key"


class X25519Public:
    family = "X25519"

    def __init__(self, public: x25519.X25519PublicKey) -> None:
        self._public = public
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._pem = pem.decode("ascii")

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        no_signing(self.family)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)


class X25519Pair(X25519Public):
    def __init__(self, private: x25519.X25519PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def derive_shared_secret(self, peer_spki_der: bytes) -> bytes:
        try:
            peer = serialization.load_der_public_key(peer_spki_der)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise MalformedParameter("publicKey", _INVALID) from None
        if not isinstance(peer, x25519.X25519PublicKey):
            raise MalformedParameter("publicKey", _INVALID)
        try:
            return self._private.exchange(peer)
        except ValueError:  # a small-order point: the all-zero secret
            raise MalformedParameter("publicKey", _INVALID) from None

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        no_signing(self.family)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class X25519Family(Pkcs8Family):
    name = "X25519"
    operations = frozenset({Operation.DERIVE_SHARED_SECRET, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.KEY_AGREEMENT
    digests: frozenset[str] = frozenset()
    message_types: frozenset[str] = frozenset()

    def classes(self, spec: KeySpec) -> tuple[type[Any], type[Any], bytes]:
        return x25519.X25519PrivateKey, x25519.X25519PublicKey, OID_X25519

    def pair(self, private: x25519.X25519PrivateKey, spec: KeySpec) -> X25519Pair:
        return X25519Pair(private)

    def public(self, public: x25519.X25519PublicKey, spec: KeySpec) -> X25519Public:
        return X25519Public(public)

    def import_rule(self, spec: KeySpec) -> str:
        return "an unencrypted PKCS#8 DER X25519 private key"


X25519 = X25519Family()
