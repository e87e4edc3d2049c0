"""The SDK-side wrapping helper imports key pairs too: material too long for RSA-OAEP goes through
RSA-AES key wrap (EH_RSA_AES_KEY_WRAP), and the imported key signs like the local private key."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pyehsm.cli.byok import wrap_for_import
from pyehsm.client import Client


def test_ec_private_key_import_through_rsa_aes_key_wrap(client: Client) -> None:
    local = ec.generate_private_key(ec.SECP521R1())
    pkcs8 = local.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keyid = client.create_key("EH_EC_P521", "EH_EXTERNAL_KEY", "EH_KEYUSAGE_SIGN_VERIFY")
    params = client.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped, padding = wrap_for_import(params.pubkey, pkcs8)
    assert padding == "EH_RSA_AES_KEY_WRAP"  # ~241 bytes of PKCS#8 exceed RSA-2048 OAEP-SHA256 (190 max)
    assert client.import_key_material(keyid, wrapped, params.import_token, padding)
    signature = client.sign(keyid, b"imported", "EH_SHA_512")
    local.public_key().verify(signature, b"imported", ec.ECDSA(hashes.SHA512()))


def test_short_material_still_uses_oaep(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY")
    params = client.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped, padding = wrap_for_import(params.pubkey, bytes(range(32)))
    assert padding == "EH_RSA_PKCS1_OAEP"
    assert client.import_key_material(keyid, wrapped, params.import_token, padding)
    assert client.decrypt(keyid, client.encrypt(keyid, b"x")) == b"x"


def test_the_wrapping_helper_takes_both_pem_forms_of_an_rsa_key(client: Client) -> None:
    """GetParametersForImport sends RSA keys as PKCS#1 (as Intel's server does); a PEM from elsewhere, or
    an earlier pyehsm, may be SubjectPublicKeyInfo: the CLI's helper takes both (and SPKI for SM2)."""
    pkcs1, spki = serialization.PublicFormat.PKCS1, serialization.PublicFormat.SubjectPublicKeyInfo
    for wrapping, form in (("EH_RSA_2048", pkcs1), ("EH_RSA_2048", spki), ("EH_SM2", None)):
        keyid = client.create_key("EH_AES_GCM_128", "EH_EXTERNAL_KEY")
        params = client.get_parameters_for_import(keyid, wrapping)
        pem = params.pubkey
        if form is not None:
            public = serialization.load_pem_public_key(pem.encode())
            pem = public.public_bytes(serialization.Encoding.PEM, form).decode()
            assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----" if form is pkcs1 else "-----BEGIN PUBLIC KEY-----")
        wrapped, padding = wrap_for_import(pem, bytes(range(16)), wrapping)
        assert client.import_key_material(keyid, wrapped, params.import_token, padding)
        assert client.decrypt(keyid, client.encrypt(keyid, b"x")) == b"x"
