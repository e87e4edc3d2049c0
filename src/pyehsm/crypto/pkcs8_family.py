"""What the families of ``cryptography``-object keys stored as PKCS#8 share (Ed25519, X25519, ML-DSA,
ML-KEM): generation, loading stored PKCS#8 and SubjectPublicKeyInfo DER, and the BYOK import check (an
unencrypted PKCS#8 key of the right algorithm, re-encoded; or, where the family has one, the raw seed).

A subclass names, per keyspec, its private class, public class and PKCS#8 algorithm OID (``classes``), and
wraps the loaded ``cryptography`` objects in its own primitives (``pair``, ``public``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyehsm.crypto.family import FamilyBase, load_private_der, load_public_der
from pyehsm.crypto.pkcs8 import PKCS8_ENCODING, reencode_pkcs8

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec


class Pkcs8Family(FamilyBase):
    symmetric = False
    sign_paddings: frozenset[str] = frozenset()
    encrypt_paddings: frozenset[str] = frozenset()
    parse_in_thread = False  # parsing and generation take microseconds (ML-DSA/ML-KEM: ~0.1 ms)
    pregenerate = False
    seed_bytes = 0  # > 0: BYOK also accepts the raw seed of this many bytes

    def classes(self, spec: KeySpec) -> tuple[type[Any], type[Any], bytes]:
        """(private key class, public key class, PKCS#8 algorithm OID contents) of ``spec``."""
        raise NotImplementedError

    def pair(self, private: Any, spec: KeySpec) -> Any:
        raise NotImplementedError

    def public(self, public: Any, spec: KeySpec) -> Any:
        raise NotImplementedError

    def generate(self, spec: KeySpec) -> bytes:
        material: bytes = self.classes(spec)[0].generate().private_bytes(*PKCS8_ENCODING)
        return material

    def load_private_key(self, spec: KeySpec, material: bytes) -> Any:
        """The stored material as the ``cryptography`` private key (KeyMaterialError otherwise)."""
        return load_private_der(material, self.classes(spec)[0])

    def load_private(self, spec: KeySpec, material: bytes) -> Any:
        return self.pair(self.load_private_key(spec, material), spec)

    def load_public(self, spec: KeySpec, spki_der: bytes) -> Any:
        return self.public(load_public_der(spki_der, self.classes(spec)[1]), spec)

    def check_import(self, spec: KeySpec, material: bytes) -> bytes:
        private_class, _, oid = self.classes(spec)
        if self.seed_bytes and len(material) == self.seed_bytes:
            seeded: bytes = private_class.from_seed_bytes(bytes(material)).private_bytes(*PKCS8_ENCODING)
            return seeded
        return reencode_pkcs8(material, oid, private_class)
