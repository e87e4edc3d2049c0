"""The SM4 key families (EH_SM4_CTR, EH_SM4_CBC): SM4-CBC and SM4-CTR with encrypt-then-MAC (HMAC-SM3), so SM4
ciphertexts are integrity-protected.

The SM4 key encrypts; the MAC key is derived from it with HMAC-SM3 under a fixed label, so one
16-byte key (generated or imported) serves both.
"""

from __future__ import annotations

import hmac as _hmac
import os
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyehsm.crypto import blob
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.crypto.family import KeyUsage, Operation, RawKeyFamily

if TYPE_CHECKING:
    from pyehsm.crypto.keyspecs import KeySpec

SM4_BLOCK_BYTES = 16
SM4_IV_BYTES = 16
MAC_BYTES = 32
_MAC_LABEL = b"pyehsm:sm4:mac:v1"


def mac_key(key: bytes) -> bytes:
    h = crypto_hmac.HMAC(key, hashes.SM3())
    h.update(_MAC_LABEL)
    return h.finalize()


def _tag(mkey: bytes, header: bytes, aad: bytes, iv: bytes, ct: bytes) -> bytes:
    h = crypto_hmac.HMAC(mkey, hashes.SM3())
    h.update(len(header).to_bytes(4, "big") + header)
    h.update(len(aad).to_bytes(8, "big") + aad)
    h.update(iv)
    h.update(ct)
    return h.finalize()


def _cipher(key: bytes, iv: bytes, cbc: bool) -> Cipher[modes.CBC] | Cipher[modes.CTR]:
    if cbc:
        return Cipher(algorithms.SM4(key), modes.CBC(iv))
    return Cipher(algorithms.SM4(key), modes.CTR(iv))


def seal(key: bytes, plaintext: bytes, header: bytes, aad: bytes, *, cbc: bool) -> bytes:
    """iv(16) || ciphertext || HMAC-SM3 tag(32) over header, aad, iv and ciphertext."""
    iv = os.urandom(SM4_IV_BYTES)
    if cbc:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    enc = _cipher(key, iv, cbc).encryptor()
    ct = enc.update(plaintext) + enc.finalize()
    return iv + ct + _tag(mac_key(key), header, aad, iv, ct)


def open_sealed(key: bytes, sealed: bytes, header: bytes, aad: bytes, *, cbc: bool) -> bytes:
    if len(sealed) < SM4_IV_BYTES + MAC_BYTES + (SM4_BLOCK_BYTES if cbc else 0):
        raise AuthenticationFailed
    iv, ct, tag = sealed[:SM4_IV_BYTES], sealed[SM4_IV_BYTES:-MAC_BYTES], sealed[-MAC_BYTES:]
    if not _hmac.compare_digest(_tag(mac_key(key), header, aad, iv, ct), tag):
        raise AuthenticationFailed
    if cbc and len(ct) % SM4_BLOCK_BYTES:
        raise AuthenticationFailed
    dec = _cipher(key, iv, cbc).decryptor()
    pt = dec.update(ct) + dec.finalize()
    if cbc:
        unpadder = padding.PKCS7(128).unpadder()
        try:
            pt = unpadder.update(pt) + unpadder.finalize()
        except ValueError:
            raise AuthenticationFailed from None
    return pt


class Sm4Cipher:
    def __init__(self, key: bytes, *, cbc: bool) -> None:
        self._key = key
        self._cbc = cbc
        self.algorithm = blob.AlgorithmId.SM4_CBC_HMAC_SM3 if cbc else blob.AlgorithmId.SM4_CTR_HMAC_SM3

    def seal(self, plaintext: bytes, header: bytes, aad: bytes) -> bytes:
        return seal(self._key, plaintext, header, aad, cbc=self._cbc)

    def open(self, body: bytes, header: bytes, aad: bytes) -> bytes:
        return open_sealed(self._key, body, header, aad, cbc=self._cbc)

    def __repr__(self) -> str:
        return "<Sm4Cipher>"


class Sm4Family(RawKeyFamily):
    operations = frozenset({Operation.ENCRYPT})
    default_usage = KeyUsage.ENCRYPT_DECRYPT

    def __init__(self, *, cbc: bool) -> None:
        self._cbc = cbc
        self.name = "SM4_CBC" if cbc else "SM4_CTR"

    def cipher(self, key: bytes) -> Sm4Cipher:
        return Sm4Cipher(key, cbc=self._cbc)

    def load_private(self, spec: KeySpec, material: bytes) -> Sm4Cipher:
        return Sm4Cipher(material, cbc=self._cbc)


SM4_CTR = Sm4Family(cbc=False)
SM4_CBC = Sm4Family(cbc=True)
