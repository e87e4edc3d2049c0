"""The ML-DSA key family (EH_ML_DSA_44/65/87): FIPS 204 module-lattice signatures over ``cryptography``.

Pure ML-DSA only: ``EH_RAW`` signs the message itself with an optional context string (at most 255 bytes,
empty by default); ``EH_EXTERNAL_MU`` signs a 64-byte mu the caller computed (FIPS 204 Algorithm 7 line 6:
``mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || len(ctx) || ctx || message, 64)``), as AWS KMS's EXTERNAL_MU.
Signatures are hedged (randomized, FIPS 204's default). HashML-DSA (``EH_DIGEST``) is not offered.
``digest_mode`` is accepted and ignored: ML-DSA hashes with SHAKE256 internally.

Keys are stored as PKCS#8 in the seed-only form (the 32-byte seed xi); BYOK accepts that seed raw or as
PKCS#8 (docs/crypto.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

from pyehsm.crypto.family import (
    SHA2_DIGESTS,
    KeyUsage,
    Operation,
    check_digest,
    no_encryption,
)
from pyehsm.crypto.pkcs8_family import Pkcs8Family
from pyehsm.errors import MessageLengthWrong, MessageTypeNotAllowed

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

SEED_BYTES = 32
MU_BYTES = 64
MAX_CONTEXT_BYTES = 255
EXTERNAL_MU = "EH_EXTERNAL_MU"

_Private = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
_Public = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey

# parameter set -> (private class, public class, OID contents 2.16.840.1.101.3.4.3.17/18/19)
PARAMETER_SETS: dict[str, tuple[type[_Private], type[_Public], bytes]] = {
    "ML-DSA-44": (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, bytes.fromhex("608648016503040311")),
    "ML-DSA-65": (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, bytes.fromhex("608648016503040312")),
    "ML-DSA-87": (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, bytes.fromhex("608648016503040313")),
}


def _check(prehashed: bool, digest: str, message: bytes) -> None:
    if prehashed:
        raise MessageTypeNotAllowed("EH_DIGEST", "ML-DSA")
    check_digest("ML-DSA", SHA2_DIGESTS, digest, False, message)


def _check_mu(mu: bytes) -> None:
    if len(mu) != MU_BYTES:
        raise MessageLengthWrong(EXTERNAL_MU, MU_BYTES)


class MlDsaPublic:
    family = "ML-DSA"

    def __init__(self, public: _Public) -> None:
        self._public = public
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._pem = pem.decode("ascii")

    def public_pem(self) -> str:
        return self._pem

    def public_raw(self) -> bytes:
        return self._public.public_bytes_raw()

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        _check(prehashed, digest, message)
        return self.verify_pure(signature, message, context=b"", mu=False)

    def verify_pure(self, signature: bytes, message: bytes, *, context: bytes, mu: bool) -> bool:
        """Pure ML-DSA verification of ``message`` with ``context``, or of a 64-byte external mu."""
        try:
            if mu:
                _check_mu(message)
                self._public.verify_mu(signature, message)
            else:
                self._public.verify(signature, message, context or None)
        except (InvalidSignature, ValueError):
            return False
        return True

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)


class MlDsaPair(MlDsaPublic):
    def __init__(self, private: _Private) -> None:
        super().__init__(private.public_key())
        self._private = private

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        _check(prehashed, digest, message)
        return self._private.sign(message)

    def sign_pure(self, message: bytes, *, context: bytes, mu: bool) -> bytes:
        """A hedged pure ML-DSA signature of ``message`` with ``context``, or of a 64-byte external mu."""
        if mu:
            _check_mu(message)
            return self._private.sign_mu(message)
        return self._private.sign(message, context or None)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class MlDsaFamily(Pkcs8Family):
    name = "ML-DSA"
    operations = frozenset({Operation.SIGN, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.SIGN_VERIFY
    digests = SHA2_DIGESTS  # accepted and ignored (SHAKE256 inside)
    message_types = frozenset({"EH_RAW", EXTERNAL_MU})
    seed_bytes = SEED_BYTES

    def classes(self, spec: KeySpec) -> tuple[type[Any], type[Any], bytes]:
        return PARAMETER_SETS[spec.parameter_set]

    def pair(self, private: _Private, spec: KeySpec) -> MlDsaPair:
        return MlDsaPair(private)

    def public(self, public: _Public, spec: KeySpec) -> MlDsaPublic:
        return MlDsaPublic(public)

    def import_rule(self, spec: KeySpec) -> str:
        return f"a 32-byte {spec.parameter_set} seed, raw or as unencrypted PKCS#8 DER"


ML_DSA = MlDsaFamily()
