"""BatchEncrypt, BatchDecrypt and BatchGenerateDataKey over HTTP: round trips with single requests, items in
request order, every bad item answered exactly as the single Action answers it while the others succeed, and
the refusals of the whole request (docs/mac-random-batch.md)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from pyehsm.client import Client
from pyehsm.client.errors import NotFoundError

SYMMETRIC = ["EH_AES_GCM_128", "EH_AES_GCM_192", "EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR"]
UNKNOWN = "00000000-0000-4000-8000-000000000000"
OK = {"code": 200, "message": "successful"}
TOO_MANY = "Parameter invalid, The items can hold at most 100 items."
BODY_TOO_LARGE = "Parameter invalid, The request body is too large."
# With the default 64 KiB body limit, 100 items of this many bytes fit in one request (docs/mac-random-batch.md).
PRACTICAL_ENCRYPT_BYTES = 440
PRACTICAL_DECRYPT_BYTES = 400  # AES-GCM plaintext: its ciphertext is 34 bytes longer, base64 a third more


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def batch(c: Client, action: str, items: list[Any]) -> list[dict[str, Any]]:
    resp = c.request(action, {"items": items})
    assert (resp.code, resp.message) == (200, "successful"), resp
    assert set(resp.result) == {"items"} and len(resp.result["items"]) == len(items)
    for item in resp.result["items"]:
        assert set(item) == {"code", "message", "result"}
    out: list[dict[str, Any]] = resp.result["items"]
    return out


def single(c: Client, action: str, payload: Any) -> dict[str, Any]:
    """The envelope the single Action answers for ``payload``, as a batch item shows it."""
    resp = c.request(action, payload)
    return {"code": resp.code, "message": resp.message, "result": resp.result}


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400 and resp.result == {}, (action, resp)
    return resp.message


def test_batch_round_trips_with_single_requests(client: Client) -> None:
    keys = [client.create_key(spec) for spec in SYMMETRIC]
    plain = [(keys[i % len(keys)], os.urandom(1 + i), os.urandom(i % 3) or None) for i in range(100)]
    encrypted = client.batch_encrypt(plain)
    assert len(encrypted) == 100 and all(item.ok for item in encrypted)
    cts = [item.unwrap() for item in encrypted]
    for (keyid, data, aad), ct in zip(plain, cts, strict=True):  # in request order, each under its own key
        assert client.decrypt(keyid, ct, aad) == data
    decrypted = client.batch_decrypt([(k, ct, aad) for (k, _, aad), ct in zip(plain, cts, strict=True)])
    assert [item.unwrap() for item in decrypted] == [data for _, data, _ in plain]
    singles = [(k, client.encrypt(k, data, aad), aad) for k, data, aad in plain[:10]]
    assert [item.unwrap() for item in client.batch_decrypt(singles)] == [data for _, data, _ in plain[:10]]
    assert repr(encrypted[0]).startswith("BatchItem(code=200, message='successful')")


async def test_async_client_batches(server: Any) -> None:
    from pyehsm.client import AsyncClient

    async with await AsyncClient.enroll(server.base) as aclient:
        keyid = await aclient.create_key("EH_AES_GCM_256")
        [item] = await aclient.batch_encrypt([(keyid, b"hi")])
        assert [x.unwrap() for x in await aclient.batch_decrypt([(keyid, item.unwrap())])] == [b"hi"]
        [dk] = await aclient.batch_generate_data_key([(keyid, 16)])
        assert await aclient.decrypt(keyid, dk.unwrap().ciphertext) == dk.unwrap().plaintext


def test_bad_encrypt_items_fail_alone(client: Client, other_client: Client) -> None:
    good = client.create_key("EH_AES_GCM_256")
    disabled = client.create_key("EH_SM4_CBC")
    client.disable_key(disabled)
    bad_items: list[Any] = [
        {"keyid": UNKNOWN, "plaintext": b64(b"x")},
        {"keyid": other_client.create_key("EH_AES_GCM_256"), "plaintext": b64(b"x")},  # another app's key
        {"keyid": disabled, "plaintext": b64(b"x")},
        {"keyid": client.create_key("EH_HMAC"), "plaintext": b64(b"x")},
        {"keyid": client.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY"), "plaintext": b64(b"x")},
        {"keyid": good},
        {"keyid": good, "plaintext": "**"},
        {"keyid": good, "plaintext": b64(os.urandom(6145))},
        {"keyid": good, "plaintext": b64(b"x"), "aad": 5},
        {"keyid": "", "plaintext": b64(b"x")},
        {"keyid": "bad\x01id", "plaintext": b64(b"x")},
    ]
    items: list[Any] = [{"keyid": good, "plaintext": b64(b"first")}]
    for bad in bad_items:
        items += [bad, {"keyid": good, "plaintext": b64(b"between")}]
    items += ["not an object", [1], None, 7]
    answers = batch(client, "BatchEncrypt", items)
    for item, answer in zip(items, answers, strict=True):
        if item in bad_items:
            assert answer == single(client, "Encrypt", item) and answer["code"] == 400, (item, answer)
        elif isinstance(item, dict):
            assert {k: answer[k] for k in ("code", "message")} == OK
            assert client.decrypt(good, unb64(answer["result"]["ciphertext"])) == unb64(item["plaintext"])
        else:
            assert answer == {"code": 400, "message": "Parameter invalid, The item must be an object.", "result": {}}
    messages = {a["message"] for a in answers if a["code"] == 400}
    assert {"keyid error", "keyid is disabled", "The keyspec EH_HMAC does not support Encrypt."} <= messages
    assert "The key material has not been imported yet." in messages


def test_bad_decrypt_items_fail_alone(client: Client, other_client: Client) -> None:
    key, other_key = client.create_key("EH_AES_GCM_256"), client.create_key("EH_AES_GCM_256")
    foreign = other_client.create_key("EH_AES_GCM_256")
    ct = client.encrypt(key, b"secret", b"ctx")
    tampered = ct[:-1] + bytes([ct[-1] ^ 1])
    disabled = client.create_key("EH_SM4_CTR")
    disabled_ct = client.encrypt(disabled, b"d")
    client.disable_key(disabled)
    bad_items: list[Any] = [
        {"keyid": key, "ciphertext": b64(tampered), "aad": b64(b"ctx")},  # a bad ciphertext
        {"keyid": key, "ciphertext": b64(b"not a pyehsm blob"), "aad": b64(b"ctx")},
        {"keyid": key, "ciphertext": b64(ct), "aad": b64(b"other")},  # wrong aad
        {"keyid": key, "ciphertext": b64(ct)},  # aad missing
        {"keyid": other_key, "ciphertext": b64(ct), "aad": b64(b"ctx")},  # made under another key
        {"keyid": foreign, "ciphertext": b64(other_client.encrypt(foreign, b"theirs"))},  # another app's key
        {"keyid": disabled, "ciphertext": b64(disabled_ct)},
        {"keyid": key, "ciphertext": ""},
    ]
    good = {"keyid": key, "ciphertext": b64(ct), "aad": b64(b"ctx")}
    items = [good, *[x for bad in bad_items for x in (bad, good)]]
    answers = batch(client, "BatchDecrypt", items)
    for item, answer in zip(items, answers, strict=True):
        if item is good:
            assert answer == {**OK, "result": {"plaintext": b64(b"secret")}}
        else:
            assert answer == single(client, "Decrypt", item) and answer["code"] == 400, (item, answer)
    assert answers[1]["message"].startswith("Decrypt failed")
    assert answers[13]["message"] == "keyid is disabled"


def test_batch_generate_data_key(client: Client) -> None:
    key = client.create_key("EH_SM4_CBC")
    items: list[Any] = [
        {"keyid": key, "keylen": 32},
        {"keyid": key, "keylen": 0},
        {"keyid": key, "keylen": 1025},
        {"keyid": key, "keylen": "16"},
        {"keyid": UNKNOWN, "keylen": 16},
        {"keyid": key, "keylen": 1, "aad": b64(b"a")},
    ]
    answers = batch(client, "BatchGenerateDataKey", items)
    for i in (0, 5):
        result = answers[i]["result"]
        plaintext, ct = unb64(result["plaintext"]), unb64(result["ciphertext"])
        assert len(plaintext) == items[i]["keylen"]
        assert client.decrypt(key, ct, unb64(items[i]["aad"]) if "aad" in items[i] else None) == plaintext
    for i in (1, 2, 3, 4):
        assert answers[i] == single(client, "GenerateDataKey", items[i]) and answers[i]["code"] == 400
    assert answers[4]["message"] == "keyid error"
    typed = client.batch_generate_data_key([(key, 16), (UNKNOWN, 16)])
    assert typed[0].ok and len(typed[0].unwrap().plaintext) == 16
    assert repr(typed[0]) == "BatchItem(code=200, message='successful')"  # the data key stays out of repr
    assert not typed[1].ok and typed[1].message == "keyid error" and typed[1].value is None
    with pytest.raises(NotFoundError):
        typed[1].unwrap()


@pytest.mark.parametrize("action", ["BatchEncrypt", "BatchDecrypt", "BatchGenerateDataKey"])
def test_whole_request_refusals(client: Client, action: str) -> None:
    keyid = client.create_key("EH_AES_GCM_128")
    item = {
        "BatchEncrypt": {"keyid": keyid, "plaintext": b64(b"x")},
        "BatchDecrypt": {"keyid": keyid, "ciphertext": b64(client.encrypt(keyid, b"x"))},
        "BatchGenerateDataKey": {"keyid": keyid, "keylen": 16},
    }[action]
    assert len(batch(client, action, [item] * 100)) == 100
    assert fails(client, action, {"items": [item] * 101}) == TOO_MANY
    assert fails(client, action, {"items": [{}] * 150}) == TOO_MANY  # counted before any item is validated
    assert fails(client, action, {"items": []}) == "Missing required parameters, The items cannot be empty."
    assert fails(client, action, {}) == "Missing required parameters, The items cannot be empty."
    assert fails(client, action, None) == "Missing required parameters"
    for not_a_list in ("abc", {"0": item}, 5):
        assert fails(client, action, {"items": not_a_list}).startswith("Parameter invalid, The items ")
    # the envelope: a bad signature or a replay refuses the whole batch
    envelope = client.envelope({"items": [item]})
    assert client.post_raw(action, {**envelope, "sign": b64(os.urandom(32))}).message == "sign error"
    assert client.post_raw(action, envelope).code == 200
    assert client.post_raw(action, envelope).message == "Timestamp can't be repeated in 20 minutes"


def test_the_body_limit_applies_to_the_whole_batch(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    fits = client.batch_encrypt([(keyid, os.urandom(PRACTICAL_ENCRYPT_BYTES))] * 100)
    assert all(item.ok for item in fits)
    cts = [client.encrypt(keyid, os.urandom(PRACTICAL_DECRYPT_BYTES)) for _ in range(100)]
    assert all(item.ok for item in client.batch_decrypt([(keyid, ct) for ct in cts]))
    too_big = [{"keyid": keyid, "plaintext": b64(os.urandom(1000))}] * 100
    assert fails(client, "BatchEncrypt", {"items": too_big}) == BODY_TOO_LARGE
