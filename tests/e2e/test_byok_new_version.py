"""eHSM door: rotation of a key with imported material (GetParametersForImport and ImportKeyMaterial with
newVersion), through the SDK; and EH_EXTERNAL_MU refusing a context string."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pyehsm.client import Client
from pyehsm.client.errors import EhsmApiError
from pyehsm.crypto import blob
from tests.e2e.test_cli import cli_env, run

OAEP = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
NOT_ROTATABLE = "rotated by importing new key material into a new version"


def wrap(pubkey_pem: str, material: bytes) -> bytes:
    public = serialization.load_pem_public_key(pubkey_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    return public.encrypt(material, OAEP)


def import_into(c: Client, keyid: str, material: bytes, *, new_version: bool = False) -> object:
    params = c.get_parameters_for_import(keyid, "EH_RSA_2048", new_version=new_version)
    if new_version:
        return c.import_new_key_version(keyid, wrap(params.pubkey, material), params.import_token, "EH_RSA_PKCS1_OAEP")
    return c.import_key_material(keyid, wrap(params.pubkey, material), params.import_token, "EH_RSA_PKCS1_OAEP")


def test_imported_key_rotates_by_importing_into_a_new_version(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY")
    first, second = os.urandom(32), os.urandom(32)
    assert import_into(c, keyid, first, new_version=True) == 1  # a key awaiting material: the first import
    old = c.encrypt(keyid, b"v1")
    with pytest.raises(EhsmApiError, match=NOT_ROTATABLE):
        c.rotate_key(keyid)
    with pytest.raises(EhsmApiError, match="already been imported"):
        c.get_parameters_for_import(keyid, "EH_RSA_2048")  # without newVersion: as always
    with pytest.raises(EhsmApiError, match="already the material of one of this key's versions"):
        import_into(c, keyid, first, new_version=True)

    assert import_into(c, keyid, second, new_version=True) == 2  # the new version, primary at once
    new = c.encrypt(keyid, b"v2")
    assert c.decrypt(keyid, old) == b"v1" and c.decrypt(keyid, new) == b"v2"
    versions = c.call("ListKeyRotations", {"keyid": keyid})["versions"]
    assert [(v["version"], v["rotationType"], v["state"], v["primary"]) for v in versions] == [
        (1, "Created", "Enabled", False),
        (2, "Imported", "Enabled", True),
    ]
    assert (
        c.call("ReEncrypt", {"keyid": keyid, "ciphertext": base64.b64encode(old).decode(), "destinationKeyId": keyid})[
            "keyVersion"
        ]
        == 2
    )

    c.disable_key(keyid)
    with pytest.raises(EhsmApiError, match="disabled"):
        c.get_parameters_for_import(keyid, "EH_RSA_2048", new_version=True)
    c.enable_key(keyid)
    hmac_key = c.create_key("EH_HMAC", "EH_EXTERNAL_KEY")
    import_into(c, hmac_key, os.urandom(32))
    with pytest.raises(EhsmApiError, match="cannot be rotated"):
        c.get_parameters_for_import(hmac_key, "EH_RSA_2048", new_version=True)
    with pytest.raises(EhsmApiError, match="newVersion must be of boolean type"):
        c.call("GetParametersForImport", {"keyid": keyid, "keyspec": "EH_RSA_2048", "newVersion": "yes"})


def test_external_mu_refuses_a_context(manual_client: Client) -> None:
    keyid = manual_client.create_key("EH_ML_DSA_65", "EH_INTERNAL_KEY")
    mu = os.urandom(64)
    for context in (b"", b"ctx"):
        with pytest.raises(EhsmApiError, match="cannot be used with message_type EH_EXTERNAL_MU"):
            manual_client.sign(keyid, mu, message_type="EH_EXTERNAL_MU", context=context)
        with pytest.raises(EhsmApiError, match="cannot be used with message_type EH_EXTERNAL_MU"):
            manual_client.verify(keyid, mu, b"\x00" * 3309, message_type="EH_EXTERNAL_MU", context=context)
    signature = manual_client.sign(keyid, mu, message_type="EH_EXTERNAL_MU")
    assert manual_client.verify(keyid, mu, signature, message_type="EH_EXTERNAL_MU")


def test_cli_key_import_new_version(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY")
    first, second = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    assert run(["key", "import", keyid, first, "--wrapping-keyspec", "EH_RSA_2048"], env).exit_code == 0
    old = client.encrypt(keyid, b"v1")
    rotated = run(["key", "import", keyid, second, "--wrapping-keyspec", "EH_RSA_2048", "--new-version"], env)
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.strip() == f"imported key material into {keyid} version 2"
    assert client.decrypt(keyid, old) == b"v1"
    assert blob.unpack(client.encrypt(keyid, b"v2")).key_version == 2
