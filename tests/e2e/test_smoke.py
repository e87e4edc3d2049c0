"""A first end-to-end pass over the foundation actions against a real `pyehsm serve`."""

from __future__ import annotations

import pytest

from pyehsm.client import Client, EhsmApiError


def test_version_and_enroll(client: Client) -> None:
    version = client.get_version()
    assert version["version"] and version["git_sha"]
    assert len(client.apikey) >= 32
    assert client.appid.count("-") == 4


def test_encrypt_decrypt_round_trip(client: Client) -> None:
    for spec in ("EH_AES_GCM_128", "EH_AES_GCM_192", "EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR"):
        keyid = client.create_key(spec)
        ct = client.encrypt(keyid, b"hello world", aad=b"ctx")
        assert client.decrypt(keyid, ct, aad=b"ctx") == b"hello world"
        with pytest.raises(EhsmApiError, match="Decrypt failed"):
            client.decrypt(keyid, ct, aad=b"other")
