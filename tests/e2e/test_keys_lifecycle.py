"""CreateKey for every keyspec, usages, external keys, ListKey, Enable/Disable, DeleteKey, DeleteAllKey,
and their bad inputs (nothing stored or changed), over HTTP against a real server."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest

from pyehsm.client import Client, EhsmApiError
from pyehsm.crypto.keyspecs import KEYSPEC_NAMES

ENCRYPT_DECRYPT = "EH_KEYUSAGE_ENCRYPT_DECRYPT"
SIGN_VERIFY = "EH_KEYUSAGE_SIGN_VERIFY"
DEFAULT_USAGE = {
    "EH_AES_GCM_128": ENCRYPT_DECRYPT,
    "EH_AES_GCM_192": ENCRYPT_DECRYPT,
    "EH_AES_GCM_256": ENCRYPT_DECRYPT,
    "EH_SM4_CTR": ENCRYPT_DECRYPT,
    "EH_SM4_CBC": ENCRYPT_DECRYPT,
    "EH_HMAC": SIGN_VERIFY,
    "EH_RSA_2048": ENCRYPT_DECRYPT,
    "EH_RSA_3072": ENCRYPT_DECRYPT,
    "EH_RSA_4096": ENCRYPT_DECRYPT,
    "EH_EC_P224": SIGN_VERIFY,
    "EH_EC_P256": SIGN_VERIFY,
    "EH_EC_P256K": SIGN_VERIFY,
    "EH_EC_P384": SIGN_VERIFY,
    "EH_EC_P521": SIGN_VERIFY,
    "EH_SM2": ENCRYPT_DECRYPT,
    # pyehsm's post-quantum and modern keys (issue 23)
    "EH_ML_DSA_44": SIGN_VERIFY,
    "EH_ML_DSA_65": SIGN_VERIFY,
    "EH_ML_DSA_87": SIGN_VERIFY,
    "EH_ED25519": SIGN_VERIFY,
    "EH_ML_KEM_768": "EH_KEYUSAGE_KEY_AGREEMENT",
    "EH_ML_KEM_1024": "EH_KEYUSAGE_KEY_AGREEMENT",
    "EH_X25519": "EH_KEYUSAGE_KEY_AGREEMENT",
}
HELLO = base64.b64encode(b"hello").decode()
KEYID_ERROR = "keyid error"
NOT_IMPORTED = "The key material has not been imported yet."
WAITING = "The key is waiting for its key material; import it first."


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400, (action, payload, resp)
    assert resp.result == {}
    return resp.message


def state(c: Client) -> list[dict[str, Any]]:
    return sorted(c.list_keys(), key=lambda k: k["keyid"])


def use_payloads(keyid: str) -> dict[str, dict[str, Any]]:
    ct = base64.b64encode(b"\xe1\x01\x00\x00\x00\x01" + bytes(40)).decode()
    return {
        "Encrypt": {"keyid": keyid, "plaintext": HELLO},
        "Decrypt": {"keyid": keyid, "ciphertext": ct},
        "GenerateDataKey": {"keyid": keyid, "keylen": 16},
        "GenerateDataKeyWithoutPlaintext": {"keyid": keyid, "keylen": 16},
    }


def test_create_every_keyspec_and_list_them(client: Client) -> None:
    assert sorted(KEYSPEC_NAMES) == sorted(DEFAULT_USAGE)
    started = int(time.time() * 1000)
    created = {spec: client.create_key(spec) for spec in DEFAULT_USAGE}
    for keyid in created.values():
        assert str(uuid.UUID(keyid)) == keyid
    listed = {k["keyid"]: k for k in client.list_keys()}
    assert set(listed) == set(created.values())
    for spec, keyid in created.items():
        entry = listed[keyid]
        assert entry["keyspec"] == spec
        assert entry["alias"] == ""
        assert entry["keyState"] == 1
        assert entry["keyusage"] == DEFAULT_USAGE[spec]
        assert entry["origin"] == "EH_INTERNAL_KEY"
        assert entry["state"] == "Enabled"
        assert started - 5_000 <= entry["creationDate"] <= int(time.time() * 1000) + 5_000
        assert entry["expireTime"] > entry["creationDate"]
        assert {"keyid", "alias", "keyspec", "keyState", "creationDate", "expireTime"} <= set(entry)


# The keyusages some Action can use, per keyspec: symmetric ciphers encrypt, HMAC signs, key pairs do both
# (an EC key with ENCRYPT_DECRYPT still serves GetPublicKey; Intel's SDK tests create such keys).
USABLE = {
    **{spec: {ENCRYPT_DECRYPT} for spec in DEFAULT_USAGE if spec.startswith(("EH_AES", "EH_SM4"))},
    "EH_HMAC": {SIGN_VERIFY},
    **{
        spec: {ENCRYPT_DECRYPT, SIGN_VERIFY}
        for spec in DEFAULT_USAGE
        if spec.startswith(("EH_RSA", "EH_EC", "EH_SM2", "EH_ML_", "EH_ED25519", "EH_X25519"))
    },
}


def test_every_usable_combination_is_accepted_and_stored_and_every_unusable_one_refused(client: Client) -> None:
    """A key no Action could use is refused at creation (Intel refuses AES/SM4 with SIGN_VERIFY; its Rust
    SDK test expects the error), with nothing stored, for internal and external keys alike."""
    assert set(USABLE) == set(DEFAULT_USAGE)
    created = {}
    for spec in DEFAULT_USAGE:
        # External keys: creation without key generation, so every combination is cheap to check.
        for usage in (ENCRYPT_DECRYPT, SIGN_VERIFY):
            if usage in USABLE[spec]:
                created[client.create_key(spec, "EH_EXTERNAL_KEY", usage)] = (spec, usage)
                continue
            (wanted,) = USABLE[spec]
            for origin in ("EH_INTERNAL_KEY", "EH_EXTERNAL_KEY"):
                response = client.request("CreateKey", {"keyspec": spec, "origin": origin, "keyusage": usage})
                assert (response.code, response.result) == (400, {}), (spec, usage)
                assert response.message == (
                    f"Parameter invalid, The keyusage {usage} is not supported for keyspec {spec} (use {wanted})."
                )
    assert len(created) == 2 * len(DEFAULT_USAGE) - 6
    listed = {k["keyid"]: k for k in client.list_keys()}
    assert {k: (v["keyspec"], v["keyusage"]) for k, v in listed.items()} == created


def test_usage_and_keyspec_are_enforced_at_use(client: Client) -> None:
    ec = client.create_key("EH_EC_P256", keyusage=ENCRYPT_DECRYPT)  # Intel's SDK tests do this
    assert fails(client, "Encrypt", {"keyid": ec, "plaintext": HELLO}) == (
        "The keyspec EH_EC_P256 does not support Encrypt."
    )
    sign = {"keyid": ec, "message": HELLO, "message_type": "EH_RAW", "digest_mode": "EH_SHA_256"}
    assert fails(client, "Sign", sign) == f"The keyusage {ENCRYPT_DECRYPT} of this key does not allow Sign."
    ec_sign = client.create_key("EH_EC_P256")
    assert client.call("Sign", {**sign, "keyid": ec_sign})["signature"]

    hmac_key = client.create_key("EH_HMAC")
    for action, payload in use_payloads(hmac_key).items():
        assert fails(client, action, payload) == "The keyspec EH_HMAC does not support Encrypt."
    sm2 = client.create_key("EH_SM2")
    assert fails(client, "GenerateDataKey", {"keyid": sm2, "keylen": 16}) == (
        "The keyspec EH_SM2 does not support Encrypt."
    )
    sm4 = client.create_key("EH_SM4_CTR")
    assert client.decrypt(sm4, client.encrypt(sm4, b"ok")) == b"ok"


def test_external_keys_wait_for_material(client: Client) -> None:
    keyids = {spec: client.create_key(spec, "EH_EXTERNAL_KEY") for spec in DEFAULT_USAGE}
    listed = {k["keyid"]: k for k in client.list_keys()}
    for spec, keyid in keyids.items():
        entry = listed[keyid]
        assert (entry["keyspec"], entry["origin"], entry["keyState"], entry["state"]) == (
            spec,
            "EH_EXTERNAL_KEY",
            0,
            "PendingImport",
        )
        assert entry["keyusage"] == DEFAULT_USAGE[spec]
    for spec in ("EH_AES_GCM_256", "EH_SM4_CBC"):
        for action, payload in use_payloads(keyids[spec]).items():
            assert fails(client, action, payload) == NOT_IMPORTED
        for action in ("EnableKey", "DisableKey"):
            assert fails(client, action, {"keyid": keyids[spec]}) == WAITING
    before = state(client)
    client.delete_key(keyids["EH_AES_GCM_256"])
    assert len(state(client)) == len(before) - 1


def test_enable_disable_are_idempotent_and_gate_crypto(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    ct = client.encrypt(keyid, b"data")
    for _ in range(2):
        client.disable_key(keyid)
        (entry,) = client.list_keys()
        assert (entry["keyState"], entry["state"]) == (0, "Disabled")
    for action, payload in use_payloads(keyid).items():
        assert fails(client, action, payload) == "keyid is disabled"
    assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": base64.b64encode(ct).decode()}) == (
        "keyid is disabled"
    )
    for _ in range(2):
        client.enable_key(keyid)
        (entry,) = client.list_keys()
        assert (entry["keyState"], entry["state"]) == (1, "Enabled")
    assert client.decrypt(keyid, ct) == b"data"


def test_deleted_key_refuses_everything(client: Client) -> None:
    keyid = client.create_key("EH_SM4_CBC")
    keep = client.create_key("EH_AES_GCM_128")
    ct = base64.b64encode(client.encrypt(keyid, b"data")).decode()
    client.delete_key(keyid)
    assert [k["keyid"] for k in client.list_keys()] == [keep]
    payloads = {**use_payloads(keyid), "Decrypt": {"keyid": keyid, "ciphertext": ct}}
    for action in ("EnableKey", "DisableKey", "DeleteKey"):
        payloads[action] = {"keyid": keyid}
    for action, payload in payloads.items():
        assert fails(client, action, payload) == KEYID_ERROR, action
    assert [k["keyid"] for k in client.list_keys()] == [keep]


@pytest.mark.parametrize("action", ["DeleteAllKey", "DeleteALLKey"])
def test_delete_all_keys(client: Client, other_client: Client, action: str) -> None:
    other = other_client.create_key("EH_AES_GCM_128")
    mine = [client.create_key(s) for s in ("EH_AES_GCM_128", "EH_SM4_CTR", "EH_EC_P256")]
    mine.append(client.create_key("EH_RSA_2048", "EH_EXTERNAL_KEY"))
    assert client.request(action).code == 200
    assert client.list_keys() == []
    for keyid in mine:
        assert fails(client, "EnableKey", {"keyid": keyid}) == KEYID_ERROR
    assert client.request(action).code == 200  # nothing left: still fine
    assert [k["keyid"] for k in other_client.list_keys()] == [other]


CREATE_BAD_INPUT: list[tuple[dict[str, Any] | None, str]] = [
    (None, "Missing required parameters"),
    ({}, "Missing required parameters, The keyspec cannot be empty."),
    ({"origin": "EH_INTERNAL_KEY"}, "Missing required parameters, The keyspec cannot be empty."),
    ({"keyspec": "", "origin": "EH_INTERNAL_KEY"}, "Missing required parameters, The keyspec cannot be empty."),
    ({"keyspec": None, "origin": "EH_INTERNAL_KEY"}, "Missing required parameters, The keyspec cannot be empty."),
    ({"keyspec": "EH_AES_GCM_128"}, "Missing required parameters, The origin cannot be empty."),
    ({"keyspec": "EH_AES_GCM_128", "origin": ""}, "Missing required parameters, The origin cannot be empty."),
    ({"keyspec": "EH_AES_GCM_512", "origin": "EH_INTERNAL_KEY"}, "Parameter invalid, The keyspec type is incorrect."),
    ({"keyspec": "eh_aes_gcm_128", "origin": "EH_INTERNAL_KEY"}, "Parameter invalid, The keyspec type is incorrect."),
    ({"keyspec": "EH_EXTERNAL_KEY", "origin": "EH_INTERNAL_KEY"}, "Parameter invalid, The keyspec type is incorrect."),
    ({"keyspec": 128, "origin": "EH_INTERNAL_KEY"}, "Parameter invalid, The keyspec must be of string type."),
    ({"keyspec": ["EH_SM2"], "origin": "EH_INTERNAL_KEY"}, "Parameter invalid, The keyspec must be of string type."),
    ({"keyspec": "EH_SM2", "origin": "EH_IMPORTED_KEY"}, "Parameter invalid, The origin type is incorrect."),
    ({"keyspec": "EH_SM2", "origin": True}, "Parameter invalid, The origin must be of string type."),
    (
        {"keyspec": "EH_SM2", "origin": "EH_INTERNAL_KEY", "keyusage": "EH_KEYUSAGE_ALL"},
        "Parameter invalid, The keyusage type is incorrect.",
    ),
    (
        {"keyspec": "EH_SM2", "origin": "EH_INTERNAL_KEY", "keyusage": 1},
        "Parameter invalid, The keyusage must be of string type.",
    ),
]


def test_create_key_bad_input_changes_nothing(client: Client) -> None:
    existing = client.create_key("EH_AES_GCM_128")
    before = state(client)
    for payload, message in CREATE_BAD_INPUT:
        assert fails(client, "CreateKey", payload) == message, payload
    assert state(client) == before
    assert [k["keyid"] for k in before] == [existing]


def test_keyid_actions_bad_input_changes_nothing(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_128")
    client.disable_key(keyid)
    before = state(client)
    cases: list[tuple[dict[str, Any] | None, str]] = [
        (None, "Missing required parameters"),
        ({}, "Missing required parameters, The keyid cannot be empty."),
        ({"keyid": ""}, "Missing required parameters, The keyid cannot be empty."),
        ({"keyid": None}, "Missing required parameters, The keyid cannot be empty."),
        ({"keyid": 7}, "Parameter invalid, The keyid must be of string type."),
        ({"keyid": [keyid]}, "Parameter invalid, The keyid must be of string type."),
        ({"keyid": "k" * 65}, "Parameter invalid, The keyid length error."),
        ({"keyid": str(uuid.uuid4())}, KEYID_ERROR),
        ({"keyid": keyid.upper()}, KEYID_ERROR),
        ({"keyid": "not-a-uuid"}, KEYID_ERROR),
    ]
    for action in ("EnableKey", "DisableKey", "DeleteKey"):
        for payload, message in cases:
            assert fails(client, action, payload) == message, (action, payload)
    assert state(client) == before


def test_client_raises_api_errors(client: Client) -> None:
    with pytest.raises(EhsmApiError) as info:
        client.enable_key(str(uuid.uuid4()))
    assert (info.value.code, info.value.message) == (400, KEYID_ERROR)
