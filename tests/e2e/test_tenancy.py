"""Tenant isolation: an app can never list, use, disable or delete another app's keys, and gets the very
same answer as for a keyid that does not exist."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from pyehsm.client import Client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def answer(c: Client, action: str, payload: dict[str, Any] | None) -> tuple[int, str, dict[str, Any]]:
    resp = c.request(action, payload)
    return resp.code, resp.message, resp.result


def attempts(keyid: str, ciphertext: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("Encrypt", {"keyid": keyid, "plaintext": b64(b"x")}),
        ("Decrypt", {"keyid": keyid, "ciphertext": ciphertext}),
        ("GenerateDataKey", {"keyid": keyid, "keylen": 16}),
        ("GenerateDataKeyWithoutPlaintext", {"keyid": keyid, "keylen": 32}),
        ("DisableKey", {"keyid": keyid}),
        ("EnableKey", {"keyid": keyid}),
        ("DeleteKey", {"keyid": keyid}),
    ]


def test_apps_cannot_touch_each_others_keys(client: Client, other_client: Client) -> None:
    owner, intruder = client, other_client
    keys = {spec: owner.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_EC_P256")}
    disabled = owner.create_key("EH_AES_GCM_128")
    owner.disable_key(disabled)
    pending = owner.create_key("EH_AES_GCM_128", "EH_EXTERNAL_KEY")
    ciphertext = b64(owner.encrypt(keys["EH_AES_GCM_256"], b"owner data"))
    before = sorted(owner.list_keys(), key=lambda k: k["keyid"])

    assert intruder.list_keys() == []
    nonexistent = str(uuid.uuid4())
    for keyid in [*keys.values(), disabled, pending]:
        for action, payload in attempts(keyid, ciphertext):
            foreign = answer(intruder, action, payload)
            unknown = answer(intruder, action, {**payload, "keyid": nonexistent})
            assert foreign == unknown == (400, "keyid error", {}), (action, keyid)
    assert intruder.request("DeleteAllKey").code == 200
    assert intruder.list_keys() == []

    assert sorted(owner.list_keys(), key=lambda k: k["keyid"]) == before
    assert owner.decrypt(keys["EH_AES_GCM_256"], base64.b64decode(ciphertext)) == b"owner data"


def test_a_ciphertext_is_bound_to_its_app_and_key(client: Client, other_client: Client) -> None:
    mine = client.create_key("EH_AES_GCM_256")
    theirs = other_client.create_key("EH_AES_GCM_256")
    ct = b64(client.encrypt(mine, b"secret"))
    code, message, _ = answer(other_client, "Decrypt", {"keyid": theirs, "ciphertext": ct})
    assert (code, message) == (
        400,
        "Decrypt failed: the ciphertext was not made with this key, was modified, or the aad does not match.",
    )


def test_an_app_cannot_sign_as_another(client: Client, other_client: Client) -> None:
    impostor = Client(client.base_url, other_client.appid, client.apikey)
    try:
        assert impostor.request("ListKey").message == "sign error"
        assert impostor.request("CreateKey", {"keyspec": "EH_SM2", "origin": "EH_INTERNAL_KEY"}).message == (
            "sign error"
        )
    finally:
        impostor.close()
    assert other_client.list_keys() == []
