"""The EC key family (EH_EC_P224/P256/P256K/P384/P521): ECDSA (FIPS 186-5 / SEC 1) on the NIST curves and
secp256k1 over ``cryptography``.

Signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }``. ``prehashed`` signs or verifies a digest the
caller computed with ``hash_alg`` (its length is checked by the caller against the digest size).
Verification returns False for any signature that does not verify, malformed DER included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from pyehsm.crypto.family import (
    SHA2_DIGESTS,
    FamilyBase,
    KeyMaterialError,
    KeyUsage,
    Operation,
    check_digest,
    no_encryption,
)
from pyehsm.crypto.pkcs8 import OID_EC_PUBLIC_KEY, PKCS8_ENCODING, pkcs8_algorithm
from pyehsm.errors import MalformedParameter

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp224r1": ec.SECP224R1,
    "secp256r1": ec.SECP256R1,
    "secp256k1": ec.SECP256K1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
}


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

    def exchange(self, peer: ec.EllipticCurvePublicKey) -> bytes:
        """ECDH (SEC 1 section 3.3.1): the x coordinate of d * Q, big-endian, field-size bytes."""
        return self._key.exchange(ec.ECDH(), peer)

    def __repr__(self) -> str:
        return f"<EcPrivateKey {self.curve}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("EC private keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# the family: wire parameters (digest_mode, message_type) on top of the primitives above; padding is ignored
# ------------------------------------------------------------------------------------------------


class EcPublic:
    family = "EC"
    digests = SHA2_DIGESTS

    def __init__(self, public: EcPublicKey) -> None:
        self._public = public
        self._pem = public.to_pem()

    def public_pem(self) -> str:
        return self._pem

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        alg = check_digest(self.family, self.digests, digest, prehashed, message)
        return self._public.verify(signature, message, alg, prehashed=prehashed)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._public.curve}>"


class EcPair(EcPublic):
    def __init__(self, private: EcPrivateKey) -> None:
        super().__init__(private.public)
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        alg = check_digest(self.family, self.digests, digest, prehashed, message)
        return self._private.sign(message, alg, prehashed=prehashed)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def derive_shared_secret(self, peer_spki_der: bytes) -> bytes:
        """ECDH with a peer's SubjectPublicKeyInfo on this key's curve; MalformedParameter for anything else
        (another curve, not an EC key, a point not on the curve: OpenSSL checks the point when it loads it)."""
        curve = self._private.curve
        try:
            peer = serialization.load_der_public_key(peer_spki_der)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise MalformedParameter("publicKey", f"not a valid public key on {curve}") from None
        if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != curve:
            raise MalformedParameter("publicKey", f"not a valid public key on {curve}")
        try:
            return self._private.exchange(peer)
        except ValueError:
            raise MalformedParameter("publicKey", f"not a valid public key on {curve}") from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class EcFamily(FamilyBase):
    name = "EC"
    symmetric = False
    # ECDH (DeriveSharedSecret) needs a key created with EH_KEYUSAGE_KEY_AGREEMENT, as in AWS KMS
    operations = frozenset({Operation.SIGN, Operation.PUBLIC_KEY, Operation.DERIVE_SHARED_SECRET})
    default_usage = KeyUsage.SIGN_VERIFY
    digests = SHA2_DIGESTS
    message_types = frozenset({"EH_RAW", "EH_DIGEST"})
    sign_paddings: frozenset[str] = frozenset()
    encrypt_paddings: frozenset[str] = frozenset()
    parse_in_thread = True
    pregenerate = True

    def generate(self, spec: KeySpec) -> bytes:
        return ec.generate_private_key(EC_CURVES[spec.curve]()).private_bytes(*PKCS8_ENCODING)

    def load_private(self, spec: KeySpec, material: bytes) -> EcPair:
        try:
            key = EcPrivateKey.from_pkcs8_der(material)
        except EcKeyError:
            raise KeyMaterialError from None
        if key.curve != spec.curve:
            raise KeyMaterialError
        return EcPair(key)

    def load_public(self, spec: KeySpec, spki_der: bytes) -> EcPublic:
        try:
            key = EcPublicKey.from_spki_der(spki_der)
        except EcKeyError:
            raise KeyMaterialError from None
        if key.curve != spec.curve:
            raise KeyMaterialError
        return EcPublic(key)

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        if pkcs8_algorithm(material) != OID_EC_PUBLIC_KEY:
            raise ValueError
        key = serialization.load_der_private_key(material, None)  # point on the curve, public point == d*G
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != spec.curve:
            raise ValueError
        return key.private_bytes(*PKCS8_ENCODING)

    def import_rule(self, spec: KeySpec) -> str:
        return f"an unencrypted PKCS#8 DER EC private key on curve {spec.curve}"


EC = EcFamily()
