"""The AES-GCM key family (EH_AES_GCM_128/192/256): Encrypt/Decrypt and data keys under AES-GCM.

The ciphertext body is iv(12) | ct | tag(16), the blob header authenticated as associated data
(docs/ciphertext-format.md); the AEAD itself is :mod:`pyehsm.crypto.aead`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyehsm.crypto import aead, blob
from pyehsm.crypto.family import KeyUsage, Operation, RawKeyFamily

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec


class AesGcmCipher:
    algorithm = blob.AlgorithmId.AES_GCM

    def __init__(self, key: bytes) -> None:
        self._gcm = aead.new_aesgcm(key)

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes:
        return aead.seal(self._gcm, plaintext, header + aad)

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        return aead.open_sealed(self._gcm, body, header + aad)

    def __repr__(self) -> str:
        return "<AesGcmCipher>"


class AesGcmFamily(RawKeyFamily):
    name = "AES_GCM"
    operations = frozenset({Operation.ENCRYPT})
    default_usage = KeyUsage.ENCRYPT_DECRYPT

    def cipher(self, key: bytes) -> AesGcmCipher:
        return AesGcmCipher(key)

    def load_private(self, spec: KeySpec, material: bytes) -> AesGcmCipher:
        return AesGcmCipher(material)


AES_GCM = AesGcmFamily()
