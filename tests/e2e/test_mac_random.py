"""GenerateMac, VerifyMac and GenerateRandom over HTTP: HMAC against Wycheproof's HMAC-SHA224/256/384/512
vectors (each vector's key imported through BYOK), HMAC_SM3 and every algorithm against a local ``hmac``
computation, and every refusal of the three Actions (docs/mac-random-batch.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

import pytest

from pyehsm.client import Client
from pyehsm.crypto.family import MAC_ALGORITHMS
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.ehsm.actions.mac import MacAlgorithmName
from tests.vectors import wycheproof_cases

EXTERNAL = "EH_EXTERNAL_KEY"
ALGORITHMS = tuple(MAC_ALGORITHMS)
LOCAL = {  # the stdlib's hmac over hashlib: an implementation independent of the server's (cryptography)
    "HMAC_SHA_224": "sha224",
    "HMAC_SHA_256": "sha256",
    "HMAC_SHA_384": "sha384",
    "HMAC_SHA_512": "sha512",
    "HMAC_SM3": "sm3",
}
WYCHEPROOF = {
    "hmac_sha224_test": "HMAC_SHA_224",
    "hmac_sha256_test": "HMAC_SHA_256",
    "hmac_sha384_test": "HMAC_SHA_384",
    "hmac_sha512_test": "HMAC_SHA_512",
}
PER_GROUP = 2  # vectors of each kind (valid / invalid) per Wycheproof group: every key size and tag size


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def import_hmac_key(c: Client, material: bytes) -> str:
    """An EH_HMAC key holding ``material``, imported through GetParametersForImport + ImportKeyMaterial
    (SM2 wrapping keys: generated in a millisecond, so every vector can have its own key)."""
    keyid = c.create_key("EH_HMAC", EXTERNAL)
    params = c.get_parameters_for_import(keyid, "EH_SM2")
    wrapped, padding = keyspec("EH_SM2").family.wrap(params.pubkey, material)  # type: ignore[attr-defined]
    assert c.import_key_material(keyid, wrapped, params.import_token, padding)
    return keyid


def local_mac(key: bytes, message: bytes, algorithm: str) -> bytes:
    return hmac.new(key, message, LOCAL[algorithm]).digest()


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400 and resp.result == {}, (action, resp)
    return resp.message


def mac_payload(keyid: str, message: bytes = b"msg", algorithm: str = "HMAC_SHA_256", **extra: Any) -> dict[str, Any]:
    return {"keyid": keyid, "message": b64(message), "macAlgorithm": algorithm, **extra}


def test_mac_algorithm_names_agree() -> None:
    assert set(MacAlgorithmName.__args__) == set(MAC_ALGORITHMS) == set(LOCAL)


def wycheproof_subset() -> list[tuple[str, str, dict[str, Any]]]:
    """Per file and group (key size x tag size): PER_GROUP valid and PER_GROUP invalid vectors whose
    message is not empty (GenerateMac refuses an empty message, as AWS KMS does)."""
    out = []
    for name, algorithm in WYCHEPROOF.items():
        taken: dict[tuple[int, int, str], int] = {}
        for group, test in wycheproof_cases(name):
            kind = (group["keySize"], group["tagSize"], test["result"])
            if not test["msg"] or taken.get(kind, 0) >= PER_GROUP:
                continue
            taken[kind] = taken.get(kind, 0) + 1
            out.append((algorithm, f"{name}#{test['tcId']}", {**test, "tagSize": group["tagSize"]}))
        assert {(k, t) for k, t, _ in taken} >= {(g["keySize"], g["tagSize"]) for g, _ in wycheproof_cases(name)}
    return out


def test_wycheproof_hmac_vectors_through_byok(client: Client) -> None:
    checked = {"valid": 0, "invalid": 0, "truncated": 0}
    for algorithm, case, test in wycheproof_subset():
        key, msg, tag = (bytes.fromhex(test[f]) for f in ("key", "msg", "tag"))
        keyid = import_hmac_key(client, key)
        full = client.generate_mac(keyid, msg, algorithm)
        assert len(full) * 8 == int(algorithm.rsplit("_", 1)[1]), case
        truncated = test["tagSize"] < len(full) * 8
        if test["result"] == "valid":
            assert full[: len(tag)] == tag, case
            # Only full-length MACs verify: a truncated tag, even a correct one, is refused.
            assert client.verify_mac(keyid, msg, tag, algorithm) is (not truncated), case
            checked["truncated" if truncated else "valid"] += 1
        else:
            assert full[: len(tag)] != tag, case
            assert client.verify_mac(keyid, msg, tag, algorithm) is False, case
            checked["invalid"] += 1
        assert client.verify_mac(keyid, msg, full, algorithm) is True, case
    assert min(checked.values()) >= 8, checked


def test_every_algorithm_matches_a_local_hmac(client: Client) -> None:
    """HMAC_SM3 included; key sizes at both ends of what import accepts (14 and 128 bytes)."""
    for size in (14, 32, 128):
        material = os.urandom(size)
        keyid = import_hmac_key(client, material)
        for algorithm in ALGORITHMS:
            for message in (b"m", os.urandom(6143)):
                mac = client.generate_mac(keyid, message, algorithm)
                assert mac == local_mac(material, message, algorithm), (size, algorithm)
                assert client.verify_mac(keyid, message, mac, algorithm) is True
                assert client.verify_mac(keyid, message + b"x", mac, algorithm) is False
                bent = bytes([mac[0] ^ 1]) + mac[1:]
                assert client.verify_mac(keyid, message, bent, algorithm) is False
            big = os.urandom(6144)  # the limit
            assert client.generate_mac(keyid, big, algorithm) == local_mac(material, big, algorithm)
        # Sign/Verify of EH_HMAC keys is unchanged: the signature is the full-length MAC.
        assert client.sign(keyid, b"m", "EH_SHA_256") == local_mac(material, b"m", "HMAC_SHA_256")


def test_a_mac_is_bound_to_its_algorithm_and_key(client: Client) -> None:
    one, two = client.create_key("EH_HMAC"), client.create_key("EH_HMAC")
    mac = client.generate_mac(one, b"hello", "HMAC_SHA_256")
    assert client.generate_mac(one, b"hello", "HMAC_SHA_256") == mac  # deterministic
    assert client.verify_mac(one, b"hello", mac, "HMAC_SHA_256") is True
    assert client.verify_mac(two, b"hello", mac, "HMAC_SHA_256") is False
    assert client.verify_mac(one, b"hello", mac, "HMAC_SM3") is False  # same size, other algorithm
    assert client.verify_mac(one, b"hello", mac[:16], "HMAC_SHA_256") is False  # truncated
    assert client.verify_mac(one, b"hello", mac + b"\0", "HMAC_SHA_256") is False  # too long
    resp = client.request("VerifyMac", mac_payload(one, b"hello", mac=b64(mac)))
    assert (resp.code, resp.message, resp.result) == (200, "successful", {"result": True})  # shaped as Verify
    wrong = client.request("VerifyMac", mac_payload(one, b"hellO", mac=b64(mac)))
    assert (wrong.code, wrong.result) == (200, {"result": False})


def test_mac_refusals(client: Client, other_client: Client) -> None:
    hmac_key = client.create_key("EH_HMAC")
    mac = b64(client.generate_mac(hmac_key, b"msg"))
    for action, extra in (("GenerateMac", {}), ("VerifyMac", {"mac": mac})):
        expect = {
            "keyid error": [mac_payload(other_client.create_key("EH_HMAC"), **extra)],  # another app's key
            "The keyspec EH_AES_GCM_256 does not support " + action + ".": [
                mac_payload(client.create_key("EH_AES_GCM_256"), **extra)
            ],
            "The keyspec EH_EC_P256 does not support " + action + ".": [
                mac_payload(client.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY"), **extra)
            ],
            "The key material has not been imported yet.": [
                mac_payload(client.create_key("EH_HMAC", EXTERNAL), **extra)
            ],
            "Missing required parameters, The keyid cannot be empty.": [
                {k: v for k, v in mac_payload(hmac_key, **extra).items() if k != "keyid"}
            ],
            "Missing required parameters, The message cannot be empty.": [
                mac_payload(hmac_key, b"", **extra),
            ],
            "Missing required parameters, The macAlgorithm cannot be empty.": [
                {k: v for k, v in mac_payload(hmac_key, **extra).items() if k != "macAlgorithm"}
            ],
            "Parameter invalid, The macAlgorithm type is incorrect.": [
                mac_payload(hmac_key, b"m", "EH_SHA_256", **extra),
                mac_payload(hmac_key, b"m", "HMAC_SHA_1", **extra),
            ],
            "Parameter invalid, The message length error.": [mac_payload(hmac_key, os.urandom(6145), **extra)],
            "Parameter invalid, The message not a valid base64 string.": [
                {**mac_payload(hmac_key, **extra), "message": "**"}
            ],
        }
        expect["keyid error"].append(mac_payload("00000000-0000-4000-8000-000000000000", **extra))
        for message, payloads in expect.items():
            for payload in payloads:
                assert fails(client, action, payload) == message, (action, payload)
    # VerifyMac's own field
    assert fails(client, "VerifyMac", mac_payload(hmac_key)) == "Missing required parameters, The mac cannot be empty."
    assert fails(client, "VerifyMac", mac_payload(hmac_key, mac=b64(os.urandom(65)))) == (
        "Parameter invalid, The mac length error."
    )
    assert fails(client, "VerifyMac", mac_payload(hmac_key, mac="!")) == (
        "Parameter invalid, The mac not a valid base64 string."
    )
    client.disable_key(hmac_key)
    assert fails(client, "GenerateMac", mac_payload(hmac_key)) == "keyid is disabled"
    assert fails(client, "VerifyMac", mac_payload(hmac_key, mac=mac)) == "keyid is disabled"
    client.enable_key(hmac_key)
    assert client.verify_mac(hmac_key, b"msg", base64.b64decode(mac)) is True
    rsa_encrypting = client.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
    assert (
        fails(client, "GenerateMac", mac_payload(rsa_encrypting))
        == "The keyspec EH_RSA_2048 does not support GenerateMac."
    )


def test_generate_random(client: Client) -> None:
    for n in (1, 16, 1024):
        assert len(client.generate_random(n)) == n
    assert client.generate_random(32) != client.generate_random(32)
    resp = client.request("GenerateRandom", {"numberOfBytes": 8})
    assert resp.code == 200 and set(resp.result) == {"plaintext"}
    assert len(base64.b64decode(resp.result["plaintext"], validate=True)) == 8


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"numberOfBytes": 0}, "Parameter invalid, The numberOfBytes must be between 1 and 1024."),
        ({"numberOfBytes": -5}, "Parameter invalid, The numberOfBytes must be between 1 and 1024."),
        ({"numberOfBytes": 1025}, "Parameter invalid, The numberOfBytes must be between 1 and 1024."),
        ({"numberOfBytes": "16"}, "Parameter invalid, The numberOfBytes must be of integer type."),
        ({"numberOfBytes": 1.5}, "Parameter invalid, The numberOfBytes must be of integer type."),
        ({}, "Missing required parameters, The numberOfBytes cannot be empty."),
        (None, "Missing required parameters"),
    ],
)
def test_generate_random_refusals(client: Client, payload: dict[str, Any] | None, message: str) -> None:
    assert fails(client, "GenerateRandom", payload) == message


def test_local_sm3_is_available() -> None:
    """The local HMAC_SM3 oracle above needs hashlib's sm3 (OpenSSL 3); fail loudly rather than skip."""
    assert hashlib.new("sm3", b"abc").hexdigest().startswith("66c7f0f4")
