"""The ML-KEM key family (EH_ML_KEM_768/1024): FIPS 203 module-lattice key encapsulation over ``cryptography``.

Encapsulate (anyone with the public encapsulation key can do it too) gives a fresh 32-byte shared secret and
its ciphertext; Decapsulate recovers the secret. A ciphertext of the right length that was not made for
this key does not fail: FIPS 203 implicit rejection answers a pseudo-random secret (J(z || c)), so a
decapsulation is no oracle. Keys are stored as PKCS#8 in the seed form (the 64-byte d || z); BYOK accepts
the seed raw or as PKCS#8. An ML-KEM key pair can also be a BYOK wrapping key (:class:`MlKemWrappingKey`,
docs/byok.md has the construction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding, aes_key_wrap_with_padding

from pyehsm.crypto.family import (
    DecryptionFailed,
    ImportScheme,
    KeyMaterialError,
    KeyUsage,
    Operation,
    no_encryption,
    no_signing,
)
from pyehsm.crypto.pkcs8_family import Pkcs8Family
from pyehsm.errors import MalformedParameter

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

SEED_BYTES = 64  # d || z (FIPS 203 ML-KEM.KeyGen_internal)
SHARED_SECRET_BYTES = 32
# BYOK under an ML-KEM wrapping key: KEK = HKDF-SHA256(IKM = shared secret, salt = empty, info = this, L = 32)
BYOK_HKDF_INFO = b"pyehsm BYOK ML-KEM AES-256-KWP v1"
BYOK_PADDING = "EH_ML_KEM_AES_KEY_WRAP"

_Private = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
_Public = mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey

# parameter set -> (private class, public class, OID contents 2.16.840.1.101.3.4.4.2/3, ciphertext bytes)
PARAMETER_SETS: dict[str, tuple[type[_Private], type[_Public], bytes, int]] = {
    "ML-KEM-768": (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey, bytes.fromhex("608648016503040402"), 1088),
    "ML-KEM-1024": (mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey, bytes.fromhex("608648016503040403"), 1568),
}


def byok_kek(shared_secret: bytes) -> bytes:
    """The AES-256 key-encryption key of an ML-KEM BYOK import (docs/byok.md)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BYOK_HKDF_INFO).derive(shared_secret)


class MlKemPublic:
    family = "ML-KEM"

    def __init__(self, public: _Public, parameter_set: str) -> None:
        self._public = public
        self.parameter_set = parameter_set
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._pem = pem.decode("ascii")

    def public_pem(self) -> str:
        return self._pem

    def encapsulate(self) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext)."""
        shared, ciphertext = self._public.encapsulate()
        return shared, ciphertext

    def verify(self, signature: bytes, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bool:
        no_signing(self.family)

    def encrypt(self, plaintext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)


class MlKemPair(MlKemPublic):
    def __init__(self, private: _Private, parameter_set: str) -> None:
        super().__init__(private.public_key(), parameter_set)
        self._private = private

    def decapsulate(self, encapsulation: bytes) -> bytes:
        """The shared secret (implicit rejection: a wrong ciphertext of the right length gives a random one)."""
        size = PARAMETER_SETS[self.parameter_set][3]
        if len(encapsulation) != size:
            raise MalformedParameter("ciphertext", f"an {self.parameter_set} ciphertext is {size} bytes")
        return self._private.decapsulate(encapsulation)

    def sign(self, message: bytes, *, digest: str, prehashed: bool, padding: str | None) -> bytes:
        no_signing(self.family)

    def decrypt(self, ciphertext: bytes, padding: str | None) -> bytes:
        no_encryption(self.family)

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


class MlKemWrappingKey:
    """An ML-KEM key pair as a BYOK wrapping key: key_material = ciphertext || AES-KWP(KEK, material)."""

    def __init__(self, pair: MlKemPair, private: _Private) -> None:
        self._pair = pair
        self.public_pem = pair.public_pem()
        self.spki_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._size = PARAMETER_SETS[pair.parameter_set][3]

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        if scheme is not ImportScheme.ML_KEM_AES_KEY_WRAP or len(ciphertext) <= self._size:
            raise DecryptionFailed
        shared = self._pair.decapsulate(ciphertext[: self._size])
        try:
            return aes_key_unwrap_with_padding(byok_kek(shared), ciphertext[self._size :])
        except (InvalidUnwrap, ValueError):
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("wrapping keys cannot be pickled")


class MlKemFamily(Pkcs8Family):
    name = "ML-KEM"
    operations = frozenset({Operation.ENCAPSULATE, Operation.PUBLIC_KEY})
    default_usage = KeyUsage.KEY_AGREEMENT
    digests: frozenset[str] = frozenset()
    message_types: frozenset[str] = frozenset()
    seed_bytes = SEED_BYTES

    def classes(self, spec: KeySpec) -> tuple[type[Any], type[Any], bytes]:
        private_class, public_class, oid, _ = PARAMETER_SETS[spec.parameter_set]
        return private_class, public_class, oid

    def pair(self, private: _Private, spec: KeySpec) -> MlKemPair:
        return MlKemPair(private, spec.parameter_set)

    def public(self, public: _Public, spec: KeySpec) -> MlKemPublic:
        return MlKemPublic(public, spec.parameter_set)

    def import_rule(self, spec: KeySpec) -> str:
        return f"a 64-byte {spec.parameter_set} seed (d || z), raw or as unencrypted PKCS#8 DER"

    # -- BYOK wrapping key ----------------------------------------------------------------------------
    def import_scheme(self, padding: str | None) -> ImportScheme:
        return ImportScheme.ML_KEM_AES_KEY_WRAP  # the only scheme: padding_mode is ignored

    def load_wrapping_key(self, spec: KeySpec, pkcs8_der: bytes) -> MlKemWrappingKey:
        try:
            private = self.load_private_key(spec, pkcs8_der)
        except KeyMaterialError:
            raise ValueError("not an ML-KEM key pair of this keyspec") from None
        return MlKemWrappingKey(MlKemPair(private, spec.parameter_set), private)

    def wrap(self, public_pem: str, material: bytes) -> tuple[bytes, str]:
        """The client side: encapsulate to the import public key, derive the KEK, AES-KWP the material."""
        public = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(public, (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey)):
            raise ValueError("not an ML-KEM public key")
        shared, ciphertext = public.encapsulate()
        return ciphertext + aes_key_wrap_with_padding(byok_kek(shared), material), BYOK_PADDING


ML_KEM = MlKemFamily()
