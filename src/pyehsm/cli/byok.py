"""Bring your own key, the client's side: wrap key material under the server's import public key."""

from __future__ import annotations

import os

import click


def wrap_for_import(pubkey_pem: str, key: bytes, wrapping_keyspec: str = "EH_RSA_3072") -> tuple[bytes, str]:
    """Encrypt ``key`` under the import public key and name the padding_mode to send.

    RSA: OAEP (SHA-256, MGF1-SHA-256) when the material fits, else RSA-AES key wrap (an OAEP-wrapped
    ephemeral AES-256 key followed by AES-KWP of the material: EH_RSA_AES_KEY_WRAP). SM2: SM2 encryption.
    The PEM may be PKCS#1 (``BEGIN RSA PUBLIC KEY``, what GetParametersForImport sends for RSA, as Intel's
    server does) or SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``: RSA or SM2).
    """
    if wrapping_keyspec == "EH_SM2":  # decided by the keyspec: cryptography cannot load SM2 public keys
        from pyehsm.crypto.sm2 import SM2PublicKey

        return SM2PublicKey.from_pem(pubkey_pem.encode()).encrypt(key), "EH_RSA_PKCS1_OAEP"

    from cryptography.hazmat.primitives import hashes, keywrap, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public = serialization.load_pem_public_key(pubkey_pem.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        raise click.ClickException(f"the server's {wrapping_keyspec} import key is not an RSA key")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    if len(key) <= public.key_size // 8 - 66:
        return public.encrypt(key, oaep), "EH_RSA_PKCS1_OAEP"
    ephemeral = os.urandom(32)
    wrapped = public.encrypt(ephemeral, oaep) + keywrap.aes_key_wrap_with_padding(ephemeral, key)
    return wrapped, "EH_RSA_AES_KEY_WRAP"
