"""SDK methods, asymmetric crypto: encryption, signatures, key encapsulation and agreement."""

from __future__ import annotations

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import Encapsulation
from pyehsm.client.operation import operation


class AsymmetricMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    # -- asymmetric crypto ------------------------------------------------------------------------
    @operation
    def asymmetric_encrypt(
        self, keyid: str, plaintext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> Exchange[bytes]:
        """AsymmetricEncrypt with an RSA or SM2 key (``padding_mode`` is ignored for SM2).

        >>> ct = c.asymmetric_encrypt(rsa_keyid, b"hi", "EH_RSA_PKCS1_OAEP")
        """
        return self._exchange(ops.asymmetric_encrypt(keyid, plaintext, padding_mode))

    @operation
    def asymmetric_decrypt(
        self, keyid: str, ciphertext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> Exchange[bytes]:
        """AsymmetricDecrypt, the inverse of :meth:`asymmetric_encrypt`.

        >>> c.asymmetric_decrypt(rsa_keyid, ct, "EH_RSA_PKCS1_OAEP")
        b'hi'
        """
        return self._exchange(ops.asymmetric_decrypt(keyid, ciphertext, padding_mode))

    @operation
    def sign(
        self,
        keyid: str,
        message: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
        context: bytes | None = None,
    ) -> Exchange[bytes]:
        """Sign a message (EH_RAW) or a digest (EH_DIGEST); ECDSA/SM2 signatures are DER. ML-DSA keys also
        take a FIPS 204 ``context`` (0..255 bytes) and EH_EXTERNAL_MU (the message is the 64-byte mu).

        ``digest_mode`` None leaves the choice to the server (pyehsm: EH_SM3 for SM2, else EH_SHA_256);
        Intel's server needs it given.

            >>> sig = c.sign(ec_keyid, b"msg", "EH_SHA_256")
        """
        return self._exchange(ops.sign(keyid, message, digest_mode, padding_mode, message_type, context))

    @operation
    def verify(
        self,
        keyid: str,
        message: bytes,
        signature: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
        context: bytes | None = None,
    ) -> Exchange[bool]:
        """Verify: False for a signature that does not verify (errors only for malformed input).

        >>> c.verify(ec_keyid, b"msg", sig, "EH_SHA_256")
        True
        """
        return self._exchange(ops.verify(keyid, message, signature, digest_mode, padding_mode, message_type, context))

    @operation
    def encapsulate(self, keyid: str) -> Exchange[Encapsulation]:
        """Encapsulate: a fresh shared secret and its KEM ciphertext under the ML-KEM key ``keyid``.

        >>> secret, ciphertext = c.encapsulate(mlkem_keyid)
        """
        return self._exchange(ops.encapsulate(keyid))

    @operation
    def decapsulate(self, keyid: str, ciphertext: bytes) -> Exchange[bytes]:
        """Decapsulate: the shared secret of a KEM ciphertext made for the ML-KEM key ``keyid``.

        >>> c.decapsulate(mlkem_keyid, ciphertext) == secret
        True
        """
        return self._exchange(ops.decapsulate(keyid, ciphertext))

    @operation
    def derive_shared_secret(self, keyid: str, public_key: bytes | str) -> Exchange[bytes]:
        """DeriveSharedSecret: ECDH (EC keys with usage EH_KEYUSAGE_KEY_AGREEMENT) or X25519 with a peer's public
        key, given as DER SubjectPublicKeyInfo bytes or PEM text.

        >>> secret = c.derive_shared_secret(ecdh_keyid, peer_pem)
        """
        return self._exchange(ops.derive_shared_secret(keyid, public_key))
