"""SDK methods, symmetric crypto and data keys, batches, MACs and randomness."""

from __future__ import annotations

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import BatchItem, DataKey
from pyehsm.client.operation import operation


class SymmetricMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    # -- symmetric crypto and data keys --------------------------------------------------------------
    @operation
    def encrypt(self, keyid: str, plaintext: bytes, aad: bytes | None = None) -> Exchange[bytes]:
        """Encrypt up to 6144 bytes under a symmetric CMK; ``aad`` must be given again to decrypt.

        >>> ct = c.encrypt(keyid, b"secret", aad=b"context")
        """
        return self._exchange(ops.encrypt(keyid, plaintext, aad))

    @operation
    def decrypt(self, keyid: str, ciphertext: bytes, aad: bytes | None = None) -> Exchange[bytes]:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same key and aad.

        >>> c.decrypt(keyid, ct, aad=b"context")
        b'secret'
        """
        return self._exchange(ops.decrypt(keyid, ciphertext, aad))

    @operation
    def generate_data_key(self, keyid: str, keylen: int, aad: bytes | None = None) -> Exchange[DataKey]:
        """GenerateDataKey: a fresh random data key (``keylen`` bytes) and its ciphertext under the CMK.

        >>> plaintext_key, wrapped = c.generate_data_key(keyid, 32)
        """
        return self._exchange(ops.generate_data_key(keyid, keylen, aad))

    @operation
    def generate_data_key_without_plaintext(self, keyid: str, keylen: int, aad: bytes | None = None) -> Exchange[bytes]:
        """GenerateDataKeyWithoutPlaintext: only the data key's ciphertext (decrypt it when needed).

        >>> wrapped = c.generate_data_key_without_plaintext(keyid, 32)
        """
        return self._exchange(ops.generate_data_key_without_plaintext(keyid, keylen, aad))

    @operation
    def export_data_key(
        self,
        keyid: str,
        ukeyid: str,
        olddatakey: bytes,
        aad: bytes | None = None,
        padding_mode: str | None = None,
    ) -> Exchange[bytes]:
        """ExportDataKey: re-encrypt a data key wrapped by ``keyid`` under the public key ``ukeyid``.

        >>> exported = c.export_data_key(keyid, rsa_keyid, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
        """
        return self._exchange(ops.export_data_key(keyid, ukeyid, olddatakey, aad, padding_mode))

    # -- batches ----------------------------------------------------------------------------------
    @operation
    def batch_encrypt(self, items: list[ops.EncryptItem]) -> Exchange[list[BatchItem[bytes]]]:
        """BatchEncrypt: up to 100 (keyid, plaintext[, aad]) items; each answer is its ciphertext or its error.

        >>> [item.unwrap() for item in c.batch_encrypt([(keyid, b"a"), (other_keyid, b"b", b"ctx")])]
        """
        return self._exchange(ops.batch_encrypt(items))

    @operation
    def batch_decrypt(self, items: list[ops.DecryptItem]) -> Exchange[list[BatchItem[bytes]]]:
        """BatchDecrypt: up to 100 (keyid, ciphertext[, aad]) items; each answer is its plaintext or its error.

        >>> [item.value if item.ok else item.message for item in c.batch_decrypt([(keyid, ct)])]
        """
        return self._exchange(ops.batch_decrypt(items))

    @operation
    def batch_decapsulate(self, items: list[ops.DecapsulateItem]) -> Exchange[list[BatchItem[bytes]]]:
        """BatchDecapsulate: up to 100 (keyid, KEM ciphertext) items; each answer is its shared secret or its error.

        >>> [item.value for item in c.batch_decapsulate([(keyid, ct1), (keyid, ct2)])]
        """
        return self._exchange(ops.batch_decapsulate(items))

    @operation
    def batch_generate_data_key(self, items: list[ops.DataKeyItem]) -> Exchange[list[BatchItem[DataKey]]]:
        """BatchGenerateDataKey: up to 100 (keyid, keylen[, aad]) items; each answer is a DataKey or its error.

        >>> plaintext_key, wrapped = c.batch_generate_data_key([(keyid, 32)])[0].unwrap()
        """
        return self._exchange(ops.batch_generate_data_key(items))

    # -- MACs and randomness ----------------------------------------------------------------------
    @operation
    def generate_mac(
        self, keyid: str, message: bytes, mac_algorithm: str = ops.DEFAULT_MAC_ALGORITHM
    ) -> Exchange[bytes]:
        """GenerateMac: the HMAC of ``message`` under an EH_HMAC key (HMAC_SHA_224/256/384/512, HMAC_SM3).

        >>> tag = c.generate_mac(hmac_keyid, b"msg", "HMAC_SHA_256")
        """
        return self._exchange(ops.generate_mac(keyid, message, mac_algorithm))

    @operation
    def verify_mac(
        self, keyid: str, message: bytes, mac: bytes, mac_algorithm: str = ops.DEFAULT_MAC_ALGORITHM
    ) -> Exchange[bool]:
        """VerifyMac: True only for the full-length MAC (compared in constant time), else False.

        >>> c.verify_mac(hmac_keyid, b"msg", tag, "HMAC_SHA_256")
        True
        """
        return self._exchange(ops.verify_mac(keyid, message, mac, mac_algorithm))

    @operation
    def generate_random(self, number_of_bytes: int) -> Exchange[bytes]:
        """GenerateRandom: 1 to 1024 bytes from the server's CSPRNG.

        >>> len(c.generate_random(32))
        32
        """
        return self._exchange(ops.generate_random(number_of_bytes))
