"""Encrypt / Decrypt / GenerateDataKey(WithoutPlaintext) over HTTP: round trips for every symmetric
keyspec, tampering, wrong aad or key, key state, and bad input that changes nothing."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest

from pyehsm.client import Client

SYMMETRIC = ["EH_AES_GCM_128", "EH_AES_GCM_192", "EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR"]
MAX = 6144
DECRYPT_FAILED = "Decrypt failed: the ciphertext was not made with this key, was modified, or the aad does not match."
BAD_BLOB = "Parameter invalid, The ciphertext is not a pyehsm ciphertext."


NOT_B64 = "not a valid base64 string."
STR = "must be of string type."
INT = "must be of integer type."
LENGTH = "length error."
GE_1 = "value must be greater than or equal to 1."
LE_1024 = "value must be less than or equal to 1024."


def empty(field: str) -> str:
    return f"Missing required parameters, The {field} cannot be empty."


def invalid(field: str, what: str) -> str:
    return f"Parameter invalid, The {field} {what}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400, (action, resp)
    assert resp.result == {}
    return resp.message


def call(c: Client, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    resp = c.request(action, payload)
    assert resp.code == 200, (action, resp)
    assert "success" in resp.message.lower()
    return resp.result


@pytest.mark.parametrize("spec", SYMMETRIC)
def test_encrypt_decrypt_round_trips(client: Client, spec: str) -> None:
    keyid = client.create_key(spec)
    for plaintext in (b"x", os.urandom(MAX), "héllo 世界".encode()):
        for aad in (None, b"a", os.urandom(MAX)):
            payload = {"keyid": keyid, "plaintext": b64(plaintext)}
            if aad is not None:
                payload["aad"] = b64(aad)
            ct = call(client, "Encrypt", payload)["ciphertext"]
            back = {"keyid": keyid, "ciphertext": ct} | ({"aad": b64(aad)} if aad is not None else {})
            assert unb64(call(client, "Decrypt", back)["plaintext"]) == plaintext
    ct = client.encrypt(keyid, b"same")
    assert ct != client.encrypt(keyid, b"same")  # fresh IV per call
    assert unb64(b64(ct))[0] == 0xE1  # the versioned blob of docs/architecture.md section 5


@pytest.mark.parametrize("spec", SYMMETRIC)
def test_data_keys(client: Client, spec: str) -> None:
    keyid = client.create_key(spec)
    for keylen in (1, 16, 1024):
        for aad in (None, b"ctx"):
            payload = {"keyid": keyid, "keylen": keylen} | ({"aad": b64(aad)} if aad else {})
            result = call(client, "GenerateDataKey", payload)
            plain, ct = unb64(result["plaintext"]), unb64(result["ciphertext"])
            assert len(plain) == keylen
            assert client.decrypt(keyid, ct, aad) == plain
            without = call(client, "GenerateDataKeyWithoutPlaintext", payload)
            assert set(without) == {"ciphertext"}
            assert len(client.decrypt(keyid, unb64(without["ciphertext"]), aad)) == keylen
            if aad:
                assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": result["ciphertext"]}) == DECRYPT_FAILED
    keys = {client.generate_data_key(keyid, 32)[0] for _ in range(4)}
    assert len(keys) == 4


def test_wrong_aad_other_key_and_flipped_bits(client: Client) -> None:
    aes, aes2 = client.create_key("EH_AES_GCM_256"), client.create_key("EH_AES_GCM_256")
    sm4, sm4ctr = client.create_key("EH_SM4_CBC"), client.create_key("EH_SM4_CTR")
    for keyid, others in ((aes, (aes2, sm4)), (sm4, (sm4ctr, aes))):
        ct = client.encrypt(keyid, b"secret message", b"aad")
        assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": b64(ct), "aad": b64(b"aae")}) == DECRYPT_FAILED
        assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": b64(ct)}) == DECRYPT_FAILED
        for other in others:
            assert fails(client, "Decrypt", {"keyid": other, "ciphertext": b64(ct), "aad": b64(b"aad")}) == (
                DECRYPT_FAILED
            )
        for i in range(len(ct)):  # one bit of every byte, header included
            tampered = bytearray(ct)
            tampered[i] ^= 1 << (i % 8)
            message = fails(client, "Decrypt", {"keyid": keyid, "ciphertext": b64(bytes(tampered)), "aad": b64(b"aad")})
            assert message in (DECRYPT_FAILED, BAD_BLOB), i
        for cut in (1, 6, 7, len(ct) - 1):
            message = fails(client, "Decrypt", {"keyid": keyid, "ciphertext": b64(ct[:cut]), "aad": b64(b"aad")})
            assert message in (DECRYPT_FAILED, BAD_BLOB)
        assert client.decrypt(keyid, ct, b"aad") == b"secret message"
    assert fails(client, "Decrypt", {"keyid": aes, "ciphertext": b64(os.urandom(48))}) == BAD_BLOB


def test_state_gates_encrypt_and_decrypt(client: Client) -> None:
    keyid = client.create_key("EH_SM4_CTR")
    ct = b64(client.encrypt(keyid, b"kept"))
    client.disable_key(keyid)
    assert fails(client, "Encrypt", {"keyid": keyid, "plaintext": b64(b"x")}) == "keyid is disabled"
    assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": ct}) == "keyid is disabled"
    assert fails(client, "GenerateDataKey", {"keyid": keyid, "keylen": 8}) == "keyid is disabled"
    client.enable_key(keyid)
    assert client.decrypt(keyid, unb64(ct)) == b"kept"
    client.delete_key(keyid)
    assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": ct}) == "keyid error"
    assert fails(client, "Encrypt", {"keyid": keyid, "plaintext": b64(b"x")}) == "keyid error"


def test_bad_input_changes_nothing(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_128")
    ct = b64(client.encrypt(keyid, b"x"))
    big = b64(b"\x00" * (MAX + 1))
    unknown = str(uuid.uuid4())
    gdk, gdkw = "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"
    cases: list[tuple[str, dict[str, Any] | None, str]] = [
        ("Encrypt", None, "Missing required parameters"),
        ("Encrypt", {"plaintext": b64(b"x")}, empty("keyid")),
        ("Encrypt", {"keyid": keyid}, empty("plaintext")),
        ("Encrypt", {"keyid": keyid, "plaintext": ""}, empty("plaintext")),
        ("Encrypt", {"keyid": keyid, "plaintext": None}, empty("plaintext")),
        ("Encrypt", {"keyid": keyid, "plaintext": 12}, invalid("plaintext", STR)),
        ("Encrypt", {"keyid": 12, "plaintext": "eA=="}, invalid("keyid", STR)),
        ("Encrypt", {"keyid": keyid, "plaintext": "eA"}, invalid("plaintext", NOT_B64)),
        ("Encrypt", {"keyid": keyid, "plaintext": "e-A="}, invalid("plaintext", NOT_B64)),
        ("Encrypt", {"keyid": keyid, "plaintext": big}, invalid("plaintext", LENGTH)),
        ("Encrypt", {"keyid": keyid, "plaintext": "eA==", "aad": big}, invalid("aad", LENGTH)),
        ("Encrypt", {"keyid": keyid, "plaintext": "eA==", "aad": "%%"}, invalid("aad", NOT_B64)),
        ("Encrypt", {"keyid": keyid, "plaintext": "eA==", "aad": 1}, invalid("aad", STR)),
        ("Encrypt", {"keyid": unknown, "plaintext": "eA=="}, "keyid error"),
        ("Decrypt", {"keyid": keyid}, empty("ciphertext")),
        ("Decrypt", {"keyid": keyid, "ciphertext": "!!"}, invalid("ciphertext", NOT_B64)),
        ("Decrypt", {"keyid": keyid, "ciphertext": []}, invalid("ciphertext", STR)),
        ("Decrypt", {"keyid": unknown, "ciphertext": ct}, "keyid error"),
        ("Decrypt", {"keyid": keyid, "ciphertext": b64(b"\x00" * 8193)}, invalid("ciphertext", LENGTH)),
        (gdk, {"keyid": keyid}, empty("keylen")),
        (gdk, {"keyid": keyid, "keylen": 0}, invalid("keylen", GE_1)),
        (gdk, {"keyid": keyid, "keylen": 1025}, invalid("keylen", LE_1024)),
        (gdk, {"keyid": keyid, "keylen": -5}, invalid("keylen", GE_1)),
        (gdk, {"keyid": keyid, "keylen": "16"}, invalid("keylen", INT)),
        (gdk, {"keyid": keyid, "keylen": True}, invalid("keylen", INT)),
        (gdk, {"keyid": keyid, "keylen": 1.5}, invalid("keylen", INT)),
        (gdk, {"keyid": unknown, "keylen": 16}, "keyid error"),
        (gdkw, {"keyid": keyid, "keylen": 0}, invalid("keylen", GE_1)),
        (gdkw, {"keyid": keyid, "keylen": 1025}, invalid("keylen", LE_1024)),
        (gdkw, {"keyid": keyid, "keylen": None}, empty("keylen")),
    ]
    before = client.list_keys()
    for action, payload, message in cases:
        assert fails(client, action, payload) == message, (action, payload)
    assert client.list_keys() == before
    assert client.decrypt(keyid, unb64(ct)) == b"x"
