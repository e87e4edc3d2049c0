"""The Ed25519 key family (EH_ED25519): PureEdDSA signatures (RFC 8032).

Keys are parsed, exported and verified with ``cryptography``; signatures are made by libsodium (PyNaCl's
``crypto_sign``), which signs in about 60 % of OpenSSL's time (bench/README.md, "Ed25519"). Ed25519
signing is deterministic, so both give the same bytes for the same key and message
(tests/unit/test_ed25519_signer.py checks it, with RFC 8032's vectors).

``EH_RAW`` only: the message itself is signed (Ed25519 hashes it with SHA-512 internally, so
``digest_mode`` must be EH_SHA_512, the keyspec's default). ``EH_DIGEST`` would be Ed25519ph, which is not
offered, and is refused. Keys are PKCS#8 DER (RFC 8410); BYOK accepts an unencrypted PKCS#8 Ed25519 key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_seed_keypair

from pyehsm.crypto.family import (
    KeyUsage,
    Operation,
    check_digest,
    no_encryption,
)
from pyehsm.crypto.pkcs8_family import Pkcs8Family
from pyehsm.errors import MessageTypeNotAllowed

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

OID_ED25519 = bytes.fromhex("2b6570")  # 1.3.101.112
SHA512 = frozenset({"EH_SHA_512"})  # Ed25519 hashes with SHA-512 itself; other digest_modes are refused


def _check(digest: str, prehashed: bool, message: bytes) -> None:
    if prehashed:  # PureEdDSA signs the message; Ed25519ph would be another keyspec
        raise MessageTypeNotAllowed("EH_DIGEST", "Ed25519")
    check_digest("Ed25519", SHA512, digest, False, message)


class Ed25519Public:
    family = "Ed25519"

    def __init__(self, public: ed25519.Ed25519PublicKey) -> None:
        self._public = public
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._pem = pem.decode("ascii")

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        _check(digest, prehashed, message)
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)


class Ed25519Pair(Ed25519Public):
    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        super().__init__(private.public_key())
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        _, self._secret = crypto_sign_seed_keypair(seed)  # libsodium's form: seed || public key

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        _check(digest, prehashed, message)
        return crypto_sign(message, self._secret)[:crypto_sign_BYTES]  # signature || message

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class Ed25519Family(Pkcs8Family):
    name = "Ed25519"
    operations = frozenset({Operation.SIGN, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.SIGN_VERIFY
    digests = SHA512
    message_types = frozenset({"EH_RAW"})

    def classes(self, spec: KeySpec) -> tuple[type[Any], type[Any], bytes]:
        return ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, OID_ED25519

    def pair(self, private: ed25519.Ed25519PrivateKey, spec: KeySpec) -> Ed25519Pair:
        return Ed25519Pair(private)

    def public(self, public: ed25519.Ed25519PublicKey, spec: KeySpec) -> Ed25519Public:
        return Ed25519Public(public)

    def import_rule(self, spec: KeySpec) -> str:
        return "an unencrypted PKCS#8 DER Ed25519 private key"


ED25519 = Ed25519Family()
