"""ECDSA (FIPS 186-5 / SEC 1) on the NIST curves and secp256k1 over ``cryptography``.

Signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }``. ``prehashed`` signs or verifies a digest the
caller computed with ``hash_alg`` (its length is checked by the caller against the digest size).
Verification returns False for any signature that does not verify, malformed DER included.
"""

from __future__ import annotations

from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed


class EcKeyError(ValueError):
    """Key material that is not an acceptable EC key (never carries key bytes)."""


# Signature algorithm objects are immutable descriptions (the hash, prehashed or not), so they are made once
# per (hash, prehashed) and shared: ECDSA() runs an import statement and argument checks, several
# microseconds per signature.
_ECDSA: dict[tuple[str, int, bool], ec.ECDSA] = {
    (alg.name, alg.digest_size, prehashed): ec.ECDSA(Prehashed(alg) if prehashed else alg)
    for alg in (hashes.SHA224(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512())
    for prehashed in (False, True)
}


def _ecdsa(hash_alg: hashes.HashAlgorithm, prehashed: bool) -> ec.ECDSA:
    algorithm = _ECDSA.get((hash_alg.name, hash_alg.digest_size, prehashed))
    if algorithm is None:  # a hash outside the SHA-2 family: made per call, as before
        algorithm = ec.ECDSA(Prehashed(hash_alg) if prehashed else hash_alg)
    return algorithm


class EcPublicKey:
    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    @classmethod
    def from_spki_der(cls, der: bytes) -> EcPublicKey:
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise EcKeyError("malformed EC public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise EcKeyError("not an EC public key")
        return cls(key)

    @property
    def curve(self) -> str:
        """The cryptography curve name, e.g. ``secp256r1``."""
        return self._key.curve.name

    def to_pem(self) -> str:
        pem = self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")

    def verify(self, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm, *, prehashed: bool = False) -> bool:
        try:
            self._key.verify(signature, data, _ecdsa(hash_alg, prehashed))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"<EcPublicKey {self.curve}>"


class EcPrivateKey:
    __slots__ = ("_key", "public")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self.public = EcPublicKey(key.public_key())

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> EcPrivateKey:
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise EcKeyError("malformed EC private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise EcKeyError("not an EC private key")
        return cls(key)

    @property
    def curve(self) -> str:
        return self._key.curve.name

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm, *, prehashed: bool = False) -> bytes:
        return self._key.sign(data, _ecdsa(hash_alg, prehashed))

    def __repr__(self) -> str:
        return f"<EcPrivateKey {self.curve}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("EC private keys cannot be pickled")
