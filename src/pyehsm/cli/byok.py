"""Bring your own key, the client's side: wrap key material under the server's import public key."""

from __future__ import annotations

import click

from pyehsm.crypto.keyspecs import KEYSPECS


def wrap_for_import(pubkey_pem: str, key: bytes, wrapping_keyspec: str = "EH_RSA_3072") -> tuple[bytes, str]:
    """Encrypt ``key`` under the import public key and name the padding_mode to send.

    RSA: OAEP (SHA-256, MGF1-SHA-256) when the material fits, else RSA-AES key wrap (an OAEP-wrapped
    ephemeral AES-256 key followed by AES-KWP of the material: EH_RSA_AES_KEY_WRAP). SM2: SM2 encryption.
    The PEM may be PKCS#1 (``BEGIN RSA PUBLIC KEY``, what GetParametersForImport sends for RSA, as Intel's
    server does) or SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``: RSA or SM2).
    """
    from pyehsm.crypto.family import WrappingFamily

    family = KEYSPECS[wrapping_keyspec].family  # the wrapping key's family knows its scheme (crypto/rsa.py, sm2.py)
    if not isinstance(family, WrappingFamily):
        raise click.ClickException(f"{wrapping_keyspec} cannot be a wrapping key")
    try:
        return family.wrap(pubkey_pem, key)
    except ValueError:
        raise click.ClickException(f"the server's {wrapping_keyspec} import key is not an {family.name} key") from None
