"""Signing and public-key encryption primitives behind one interface, obtained from the keyspec family.

``load_key(spec, material)`` turns a key version's material (PKCS#8 DER for RSA/EC/SM2, raw bytes for
HMAC) into a :class:`KeyPrimitive`; ``load_public_key(spec, spki_der)`` does the same for a public key.
The registry ``_LOADERS`` (family -> loader) is the only dispatch; each family's class knows its own
rules, so nothing outside :mod:`pyehsm.crypto.keyspecs` compares keyspec names.

Wire parameters, as docs/protocol.md section 4 defines them:

* ``digest``: an EH_* digest name (EH_SHA_224/256/384/512, EH_SM3). RSA and ECDSA take the SHA-2
  family; SM2 takes only EH_SM3; HMAC takes any of them.
* ``prehashed`` (message_type EH_DIGEST): the message *is* the digest and must have the digest's size.
  SM2 signs as Intel's server does: SM3-with-identity over the bytes it is given for *both* message
  types, i.e. over ``SM3(Z_A || data)`` (GB/T 32918.2, Z_A over the default user id ``1234567812345678``
  and the key's public point); for EH_DIGEST ``data`` is the 32-byte digest the client sent (what
  ``openssl dgst -sm3 -sigopt distid:1234567812345678`` computes over that data), never the final ``e``.
  HMAC has no meaningful digest input, so EH_DIGEST is refused for HMAC keys.
* ``padding``: RSA signatures take EH_RSA_PKCS1 or EH_RSA_PKCS1_PSS (PSS: MGF1 with the message hash,
  salt length = digest length when signing, any salt length accepted when verifying); RSA encryption
  takes EH_RSA_PKCS1 or EH_RSA_PKCS1_OAEP (SHA-256, MGF1-SHA-256). ECDSA, SM2 and HMAC ignore padding.
* Signatures: raw k-byte integers for RSA, DER ``SEQUENCE {r, s}`` for ECDSA and SM2, the full-length
  tag for HMAC. SM2 ciphertexts are GM/T 0009 DER (C1C3C2).
* RSA PKCS#1 v1.5 decryption uses implicit rejection (see :mod:`pyehsm.crypto.rsa`): a ciphertext with
  bad padding yields a pseudo-random plaintext instead of an error, so there is no padding oracle.

Errors: parameters a key cannot take raise the domain errors of :mod:`pyehsm.errors` (no wire text);
:class:`PlaintextTooLong` carries the limit;
:class:`DecryptionFailed` and :class:`KeyMaterialError` carry nothing about the data or the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from pyehsm.crypto import ec, rsa, sm2
from pyehsm.crypto.keyspecs import DIGEST_SIZES, Family, KeySpec
from pyehsm.crypto.rsa import PlaintextTooLong
from pyehsm.errors import (
    CannotEncrypt,
    DigestLengthWrong,
    DigestNotAllowed,
    MessageTypeNotAllowed,
    MissingParameter,
    NoPublicKey,
    PaddingNotAllowed,
)

__all__ = [
    "MESSAGE_TYPE_PREHASHED",
    "DecryptionFailed",
    "KeyMaterialError",
    "KeyPrimitive",
    "PlaintextTooLong",
    "PublicKeyPrimitive",
    "load_key",
    "load_public_key",
]

MAX_SM2_PLAINTEXT = 6144

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}
# One instance per digest, shared: hash algorithm objects are immutable descriptions (name, sizes).
_HASH_OBJECTS: dict[str, hashes.HashAlgorithm] = {name: make() for name, make in HASHES.items()}
SHA2_DIGESTS = frozenset({"EH_SHA_224", "EH_SHA_256", "EH_SHA_384", "EH_SHA_512"})
MESSAGE_TYPE_PREHASHED: dict[str, bool] = {"EH_RAW": False, "EH_DIGEST": True}
RSA_ENCRYPTION: dict[str, rsa.RsaEncryption] = {
    "EH_RSA_PKCS1": rsa.RsaEncryption.PKCS1,
    "EH_RSA_PKCS1_OAEP": rsa.RsaEncryption.OAEP,
}
RSA_SIGNATURE: dict[str, rsa.RsaSignature] = {
    "EH_RSA_PKCS1": rsa.RsaSignature.PKCS1,
    "EH_RSA_PKCS1_PSS": rsa.RsaSignature.PSS,
}



class DecryptionFailed(Exception):
    """The ciphertext does not decrypt under this key (one error for every cause)."""


class KeyMaterialError(Exception):
    """Stored material is not a key of the expected keyspec (a server-side fault)."""


class PublicKeyPrimitive(Protocol):
    def public_pem(self) -> str:
        """PEM text: PKCS#1 (``BEGIN RSA PUBLIC KEY``) for RSA, SubjectPublicKeyInfo for EC and SM2."""
        ...

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        """False for a signature that does not verify; a domain error for unusable parameters."""
        ...

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes: ...


class KeyPrimitive(PublicKeyPrimitive, Protocol):
    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes: ...

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        """DecryptionFailed when the ciphertext does not decrypt."""
        ...


# ------------------------------------------------------------------------------------------------
# shared parameter rules
# ------------------------------------------------------------------------------------------------


def _hash(
    family: Family, allowed: frozenset[str], digest: str, prehashed: bool, message: bytes
) -> hashes.HashAlgorithm:
    if digest not in allowed:
        raise DigestNotAllowed(digest, family.value, tuple(sorted(allowed)))
    if prehashed and len(message) != DIGEST_SIZES[digest]:
        raise DigestLengthWrong(digest, DIGEST_SIZES[digest])
    return _HASH_OBJECTS[digest]


def _rsa_encryption(padding: str | None) -> rsa.RsaEncryption:
    if padding is None:
        raise MissingParameter("padding_mode")
    scheme = RSA_ENCRYPTION.get(padding)
    if scheme is None:
        raise PaddingNotAllowed(padding, "encryption", tuple(RSA_ENCRYPTION))
    return scheme


def _rsa_signature(padding: str | None) -> rsa.RsaSignature:
    if padding is None:
        raise MissingParameter("padding_mode")
    scheme = RSA_SIGNATURE.get(padding)
    if scheme is None:
        raise PaddingNotAllowed(padding, "signature", tuple(RSA_SIGNATURE))
    return scheme


def _no_encryption(family: Family) -> NoReturn:
    raise CannotEncrypt(family.value)


# ------------------------------------------------------------------------------------------------
# RSA
# ------------------------------------------------------------------------------------------------


class RsaPublic:
    family = Family.RSA
    digests = SHA2_DIGESTS

    def __init__(self, public: rsa.RsaPublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        scheme = _rsa_signature(padding)
        alg = _hash(self.family, self.digests, digest, prehashed, message)
        return self._public.verify(signature, message, alg, scheme, prehashed=prehashed)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        return self._public.encrypt(plaintext, _rsa_encryption(padding))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._public.bits}>"


class RsaPair(RsaPublic):
    def __init__(self, private: rsa.RsaPrivateKey) -> None:
        super().__init__(private.public)
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        scheme = _rsa_signature(padding)
        alg = _hash(self.family, self.digests, digest, prehashed, message)
        return self._private.sign(message, alg, scheme, prehashed=prehashed)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        scheme = _rsa_encryption(padding)
        try:
            return self._private.decrypt(ciphertext, scheme)
        except rsa.RsaDecryptionError:
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# ECDSA
# ------------------------------------------------------------------------------------------------


class EcPublic:
    family = Family.EC
    digests = SHA2_DIGESTS

    def __init__(self, public: ec.EcPublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        alg = _hash(self.family, self.digests, digest, prehashed, message)
        return self._public.verify(signature, message, alg, prehashed=prehashed)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        _no_encryption(self.family)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._public.curve}>"


class EcPair(EcPublic):
    def __init__(self, private: ec.EcPrivateKey) -> None:
        super().__init__(private.public)
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        alg = _hash(self.family, self.digests, digest, prehashed, message)
        return self._private.sign(message, alg, prehashed=prehashed)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        _no_encryption(self.family)

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# SM2 (default user id; EH_RAW and EH_DIGEST both sign SM3(Z_A || data), as Intel's server does)
# ------------------------------------------------------------------------------------------------


class Sm2Public:
    family = Family.SM2
    digests = frozenset({"EH_SM3"})

    def __init__(self, public: sm2.SM2PublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        _hash(self.family, self.digests, digest, prehashed, message)  # EH_DIGEST: still 32 bytes
        try:
            return self._public.verify(signature, message)
        except sm2.SM2Error:
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
    def __init__(self, private: sm2.SM2PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        _hash(self.family, self.digests, digest, prehashed, message)  # EH_DIGEST: still 32 bytes
        return self._private.sign(message)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        try:
            return self._private.decrypt(ciphertext)
        except sm2.SM2Error:
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# HMAC (EH_HMAC keys sign and verify: the signature is the MAC of the message)
# ------------------------------------------------------------------------------------------------


class HmacKey:
    family = Family.HMAC
    digests = frozenset(HASHES)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise KeyMaterialError
        self._key = bytes(key)

    def _mac(self, message: bytes, digest: str, prehashed: bool) -> hmac.HMAC:
        if prehashed:
            raise MessageTypeNotAllowed("EH_DIGEST", self.family.value)
        mac = hmac.HMAC(self._key, _hash(self.family, self.digests, digest, False, message))
        mac.update(message)
        return mac

    def public_pem(self) -> str:
        raise NoPublicKey(self.family.value)

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        return self._mac(message, digest, prehashed).finalize()

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        mac = self._mac(message, digest, prehashed)
        try:
            mac.verify(signature)  # constant time
        except InvalidSignature:
            return False
        return True

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        _no_encryption(self.family)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        _no_encryption(self.family)

    def __repr__(self) -> str:
        return "<HmacKey>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("HMAC keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------


def _load_rsa(spec: KeySpec, der: bytes) -> KeyPrimitive:
    key = rsa.RsaPrivateKey.from_pkcs8_der(der)
    if key.public.bits != spec.rsa_bits:
        raise KeyMaterialError
    return RsaPair(key)


def _load_ec(spec: KeySpec, der: bytes) -> KeyPrimitive:
    key = ec.EcPrivateKey.from_pkcs8_der(der)
    if key.curve != spec.curve:
        raise KeyMaterialError
    return EcPair(key)


def _load_sm2(_spec: KeySpec, der: bytes) -> KeyPrimitive:
    return Sm2Pair(sm2.SM2PrivateKey.from_pkcs8_der(der))


def _load_hmac(_spec: KeySpec, raw: bytes) -> KeyPrimitive:
    return HmacKey(raw)


def _load_rsa_public(spec: KeySpec, der: bytes) -> PublicKeyPrimitive:
    key = rsa.RsaPublicKey.from_spki_der(der)
    if spec.rsa_bits and key.bits != spec.rsa_bits:
        raise KeyMaterialError
    return RsaPublic(key)


def _load_ec_public(spec: KeySpec, der: bytes) -> PublicKeyPrimitive:
    key = ec.EcPublicKey.from_spki_der(der)
    if key.curve != spec.curve:
        raise KeyMaterialError
    return EcPublic(key)


def _load_sm2_public(_spec: KeySpec, der: bytes) -> PublicKeyPrimitive:
    return Sm2Public(sm2.SM2PublicKey.from_spki_der(der))


_LOADERS: dict[Family, Callable[[KeySpec, bytes], KeyPrimitive]] = {
    Family.RSA: _load_rsa,
    Family.EC: _load_ec,
    Family.SM2: _load_sm2,
    Family.HMAC: _load_hmac,
}
_PUBLIC_LOADERS: dict[Family, Callable[[KeySpec, bytes], PublicKeyPrimitive]] = {
    Family.RSA: _load_rsa_public,
    Family.EC: _load_ec_public,
    Family.SM2: _load_sm2_public,
}
_KEY_ERRORS = (rsa.RsaKeyError, ec.EcKeyError, sm2.SM2Error)


def load_key(spec: KeySpec, material: bytes) -> KeyPrimitive:
    """The primitive for one key version's material; KeyMaterialError if it is not a key of ``spec``."""
    loader = _LOADERS.get(spec.family)
    if loader is None:
        raise KeyMaterialError
    try:
        return loader(spec, material)
    except _KEY_ERRORS:
        raise KeyMaterialError from None


def load_public_key(spec: KeySpec, spki_der: bytes) -> PublicKeyPrimitive:
    """A verify/encrypt primitive from a DER SubjectPublicKeyInfo of a ``spec`` key."""
    loader = _PUBLIC_LOADERS.get(spec.family)
    if loader is None:
        raise KeyMaterialError
    try:
        return loader(spec, spki_der)
    except _KEY_ERRORS:
        raise KeyMaterialError from None
