"""The SM2 key family (EH_SM2): signatures, public-key encryption and BYOK wrapping keys.

The key classes are :mod:`pyehsm.crypto.sm2_keys` (re-exported here), the ctypes binding to OpenSSL 3
:mod:`pyehsm.crypto.libcrypto`. Wire parameters: SM2 signs as Intel's server does, SM3-with-identity over
the bytes it is given for *both* message types, i.e. over ``SM3(Z_A || data)`` (GB/T 32918.2, Z_A over the
default user id ``1234567812345678``); for EH_DIGEST ``data`` is the 32-byte digest the client sent. Only
EH_SM3 is accepted as digest_mode; padding is ignored. Ciphertexts are GM/T 0009 DER (C1C3C2), plaintexts
1 to 6144 bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from pyehsm.crypto.family import (
    DecryptionFailed,
    FamilyBase,
    ImportScheme,
    KeyMaterialError,
    KeyUsage,
    Operation,
    PlaintextTooLong,
    check_digest,
)
from pyehsm.crypto.pkcs8 import pkcs8_algorithm
from pyehsm.crypto.sm2_keys import DEFAULT_USER_ID, SM2Error, SM2PrivateKey, SM2PublicKey, generate_private_key
from pyehsm.errors import MissingParameter

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

__all__ = [
    "DEFAULT_USER_ID",
    "SM2",
    "SM2Error",
    "SM2PrivateKey",
    "SM2PublicKey",
    "generate_private_key",
]

MAX_SM2_PLAINTEXT = 6144
SM3_ONLY = frozenset({"EH_SM3"})


class Sm2Public:
    family = "SM2"
    digests = SM3_ONLY

    def __init__(self, public: SM2PublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        check_digest(self.family, self.digests, digest, prehashed, message)  # EH_DIGEST: still 32 bytes
        try:
            return self._public.verify(signature, message)
        except SM2Error:
            return False

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        if len(plaintext) > MAX_SM2_PLAINTEXT:
            raise PlaintextTooLong(MAX_SM2_PLAINTEXT, "SM2")
        if not plaintext:
            raise MissingParameter("plaintext")
        return self._public.encrypt(plaintext)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Sm2Pair(Sm2Public):
    def __init__(self, private: SM2PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        check_digest(self.family, self.digests, digest, prehashed, message)  # EH_DIGEST: still 32 bytes
        return self._private.sign(message)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        try:
            return self._private.decrypt(ciphertext)
        except SM2Error:
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class Sm2WrappingKey:
    """An SM2 BYOK wrapping key: SM2 public-key encryption (GB/T 32918.4), what ``openssl pkeyutl -encrypt`` makes."""

    def __init__(self, pkcs8_der: bytes) -> None:
        self._sm2 = SM2PrivateKey.from_pkcs8_der(pkcs8_der)
        self.spki_der = self._sm2.public_key().to_spki_der()
        self.public_pem = self._sm2.public_key().to_pem()

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        if scheme is not ImportScheme.SM2:
            raise DecryptionFailed
        try:
            return self._sm2.decrypt(ciphertext)
        except SM2Error:
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("wrapping keys cannot be pickled")


class Sm2Family(FamilyBase):
    name = "SM2"
    symmetric = False
    operations = frozenset({Operation.ASYMMETRIC_ENCRYPT, Operation.SIGN, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.ENCRYPT_DECRYPT
    digests = SM3_ONLY
    message_types = frozenset({"EH_RAW", "EH_DIGEST"})
    sign_paddings: frozenset[str] = frozenset()
    encrypt_paddings: frozenset[str] = frozenset()
    parse_in_thread = True
    pregenerate = True

    def generate(self, spec: KeySpec) -> bytes:
        return generate_private_key().to_pkcs8_der()

    def load_private(self, spec: KeySpec, material: bytes) -> Sm2Pair:
        try:
            return Sm2Pair(SM2PrivateKey.from_pkcs8_der(material))
        except SM2Error:
            raise KeyMaterialError from None

    def load_public(self, spec: KeySpec, spki_der: bytes) -> Sm2Public:
        try:
            return Sm2Public(SM2PublicKey.from_spki_der(spki_der))
        except SM2Error:
            raise KeyMaterialError from None

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        pkcs8_algorithm(material)
        # Strict PKCS#8, the sm2 curve, 1 <= d < n and the embedded public point equal to d*G.
        try:
            return SM2PrivateKey.from_pkcs8_der(material).to_pkcs8_der()
        except SM2Error:
            raise ValueError from None

    def import_rule(self, spec: KeySpec) -> str:
        return "an unencrypted PKCS#8 DER SM2 private key"

    def import_scheme(self, padding: str | None) -> ImportScheme:
        return ImportScheme.SM2  # padding_mode is ignored

    def load_wrapping_key(self, spec: KeySpec, pkcs8_der: bytes) -> Sm2WrappingKey:
        return Sm2WrappingKey(pkcs8_der)

    def wrap(self, public_pem: str, material: bytes) -> tuple[bytes, str]:
        """SM2 encryption (the server ignores padding_mode for SM2 wrapping keys; OAEP's name is sent)."""
        try:
            return SM2PublicKey.from_pem(public_pem.encode()).encrypt(material), "EH_RSA_PKCS1_OAEP"
        except SM2Error as exc:
            raise ValueError("not an SM2 public key") from exc


SM2 = Sm2Family()
