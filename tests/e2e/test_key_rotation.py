"""Key versions over HTTP (docs/key-rotation.md): RotateKey, UpdateKeyRotation and the rotation job,
ListKeyRotations, UpdateKeyVersionPolicy, ReEncrypt, and every error of each."""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pyehsm.client import Client
from pyehsm.clock import DAY_MS, ManualClock
from pyehsm.config import Settings
from pyehsm.protocols.ehsm.errors import (
    BAD_BLOB,
    DECRYPT_FAILED,
    DESTINATION_UNUSABLE,
    EXTERNAL_NOT_ROTATABLE,
    KEY_DISABLED,
    KEYID_ERROR,
    NOT_ROTATABLE,
    VERSION_RETIRED,
)
from tests.conftest import SMALL_POOL
from tests.support.aws import kms
from tests.support.server import InProcessServer, ServerProcess, audit_lines_once, in_process_server

SYMMETRIC = ("EH_AES_GCM_128", "EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR")
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def version_of(ciphertext: bytes) -> int:
    return int(struct.unpack(">I", ciphertext[2:6])[0])


def ok(c: Client, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    resp = c.request(action, payload)
    assert resp.code == 200, (action, resp)
    return dict(resp.result)


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400, (action, payload, resp)
    assert resp.result == {}
    return resp.message


def rotate_due_now(srv: InProcessServer) -> int:
    """One pass of the rotation job on the server's own loop (the background task does the same periodically)."""
    runtime = srv.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-key-rotation")
    assert not task.done()
    future = asyncio.run_coroutine_threadsafe(runtime.services.rotation.rotate_due_once(), task.get_loop())
    return int(future.result(timeout=30))


# -- RotateKey, Encrypt/GenerateDataKey on the primary, Decrypt by the blob's version ------------------
@pytest.mark.parametrize("spec", SYMMETRIC)
def test_every_version_decrypts_after_several_rotations(client: Client, spec: str) -> None:
    keyid = client.create_key(spec)
    made = {1: client.encrypt(keyid, b"v1 data", aad=b"ctx")}
    for expected in (2, 3, 4):
        rotated = client.rotate_key(keyid)
        assert (rotated.version, rotated.rotation_type) == (expected, "OnDemand")
        made[expected] = client.encrypt(keyid, f"v{expected} data".encode(), aad=b"ctx")
    assert {v: version_of(ct) for v, ct in made.items()} == {1: 1, 2: 2, 3: 3, 4: 4}
    for version, ct in made.items():
        assert client.decrypt(keyid, ct, aad=b"ctx") == f"v{version} data".encode()
    data_key = client.generate_data_key(keyid, 32)
    assert version_of(data_key.ciphertext) == 4 and client.decrypt(keyid, data_key.ciphertext) == data_key.plaintext
    assert version_of(client.generate_data_key_without_plaintext(keyid, 16)) == 4
    listed = client.list_key_rotations(keyid)
    assert [(v.version, v.rotation_type, v.state, v.primary) for v in listed.versions] == [
        (1, "Created", "Enabled", False),
        (2, "OnDemand", "Enabled", False),
        (3, "OnDemand", "Enabled", False),
        (4, "OnDemand", "Enabled", True),
    ]
    assert (listed.primary_version, listed.min_decryption_version, listed.rotation_period_in_days) == (4, 1, 0)
    assert listed.versions[0].creation_date <= listed.versions[3].creation_date


def test_rotate_key_errors(client: Client, other_client: Client) -> None:
    aes = client.create_key("EH_AES_GCM_256")
    assert fails(client, "RotateKey", {}) == "Missing required parameters, The keyid cannot be empty."
    assert fails(client, "RotateKey", {"keyid": UNKNOWN}) == KEYID_ERROR
    assert fails(other_client, "RotateKey", {"keyid": aes}) == KEYID_ERROR  # another app's key: unknown
    for spec in ("EH_RSA_2048", "EH_EC_P256", "EH_SM2", "EH_HMAC"):
        keyid = client.create_key(spec)
        assert fails(client, "RotateKey", {"keyid": keyid}) == NOT_ROTATABLE.format(keyspec=spec)
    external = client.create_key("EH_AES_GCM_256", origin="EH_EXTERNAL_KEY")
    assert fails(client, "RotateKey", {"keyid": external}) == EXTERNAL_NOT_ROTATABLE
    client.disable_key(aes)
    assert fails(client, "RotateKey", {"keyid": aes}) == KEY_DISABLED
    client.enable_key(aes)
    assert [v.version for v in client.list_key_rotations(aes).versions] == [1]  # nothing was added


# -- ListKeyRotations ------------------------------------------------------------------------------------
def test_list_key_rotations_of_any_key_and_its_errors(client: Client, other_client: Client) -> None:
    rsa = client.create_key("EH_RSA_2048")
    listed = client.list_key_rotations(rsa)
    assert [(v.version, v.rotation_type, v.primary) for v in listed.versions] == [(1, "Created", True)]
    external = client.create_key("EH_SM4_CBC", origin="EH_EXTERNAL_KEY")
    assert [v.state for v in client.list_key_rotations(external).versions] == ["PendingImport"]
    assert fails(client, "ListKeyRotations", {}) == "Missing required parameters, The keyid cannot be empty."
    assert fails(client, "ListKeyRotations", {"keyid": UNKNOWN}) == KEYID_ERROR
    assert fails(other_client, "ListKeyRotations", {"keyid": rsa}) == KEYID_ERROR


# -- UpdateKeyRotation and the rotation job (ManualClock) ---------------------------------------------------
def test_update_key_rotation_settings_and_errors(manual_client: Client, clock: ManualClock) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    settings = c.update_key_rotation(keyid, 90)
    assert (settings.rotation_period_in_days, settings.next_rotation_date) == (90, clock.now_ms() + 90 * DAY_MS)
    assert c.update_key_rotation(keyid, 2560).rotation_period_in_days == 2560
    off = c.update_key_rotation(keyid, 0)
    assert (off.rotation_period_in_days, off.next_rotation_date) == (0, None)
    c.update_key_rotation(keyid, 365)
    assert c.update_key_rotation(keyid).next_rotation_date is None  # absent: off too
    out_of_range = "Parameter invalid, The rotationPeriodInDays must be between 90 and 2560."
    for bad in (89, 2561, -1):
        assert fails(c, "UpdateKeyRotation", {"keyid": keyid, "rotationPeriodInDays": bad}) == out_of_range
    assert (
        fails(c, "UpdateKeyRotation", {"keyid": keyid, "rotationPeriodInDays": "90"})
        == "Parameter invalid, The rotationPeriodInDays must be of integer type."
    )
    assert fails(c, "UpdateKeyRotation", {"keyid": UNKNOWN, "rotationPeriodInDays": 90}) == KEYID_ERROR
    hmac = c.create_key("EH_HMAC")
    assert fails(c, "UpdateKeyRotation", {"keyid": hmac, "rotationPeriodInDays": 90}) == NOT_ROTATABLE.format(
        keyspec="EH_HMAC"
    )
    assert c.list_key_rotations(keyid).next_rotation_date is None  # refused requests changed nothing


def test_rotation_job_rotates_each_due_key_exactly_once(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    c = manual_client
    due = [c.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CTR")]
    later, idle = c.create_key("EH_AES_GCM_128"), c.create_key("EH_AES_GCM_256")
    old = {keyid: c.encrypt(keyid, b"before") for keyid in (*due, later)}
    for keyid in due:
        c.update_key_rotation(keyid, 90)
    c.update_key_rotation(later, 180)
    clock.advance(days=90, ms=-1)
    assert rotate_due_now(manual_server) == 0
    clock.advance(ms=1)
    assert rotate_due_now(manual_server) == 2
    assert rotate_due_now(manual_server) == 0  # rotated once, not again
    for keyid in due:
        listed = c.list_key_rotations(keyid)
        assert [(v.version, v.rotation_type) for v in listed.versions] == [(1, "Created"), (2, "Automatic")]
        assert listed.next_rotation_date == listed.versions[1].creation_date + 90 * DAY_MS
        assert version_of(c.encrypt(keyid, b"after")) == 2 and c.decrypt(keyid, old[keyid]) == b"before"
    clock.advance(days=90)
    assert rotate_due_now(manual_server) == 3  # the two 90-day keys again, and the 180-day key once
    assert [len(c.list_key_rotations(k).versions) for k in (*due, later, idle)] == [3, 3, 2, 1]
    assert c.decrypt(later, old[later]) == b"before"


# -- UpdateKeyVersionPolicy ----------------------------------------------------------------------------------
def test_min_decryption_version_refuses_and_restores(client: Client, other_client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    cts = [client.encrypt(keyid, b"one")]
    for _ in range(2):
        client.rotate_key(keyid)
        cts.append(client.encrypt(keyid, b"later"))
    policy = client.update_key_version_policy(keyid, 3)
    assert (policy.min_decryption_version, policy.primary_version) == (3, 3)
    for old in cts[:2]:
        assert fails(client, "Decrypt", {"keyid": keyid, "ciphertext": b64(old)}) == VERSION_RETIRED
        assert fails(client, "ReEncrypt", {"keyid": keyid, "ciphertext": b64(old), "destinationKeyId": keyid}) == (
            VERSION_RETIRED
        )
    assert client.decrypt(keyid, cts[2]) == b"later"
    assert [v.state for v in client.list_key_rotations(keyid).versions] == ["Disabled", "Disabled", "Enabled"]
    client.rotate_key(keyid)
    assert client.list_key_rotations(keyid).min_decryption_version == 3  # rotation keeps the policy
    assert client.update_key_version_policy(keyid, 1).min_decryption_version == 1
    assert client.decrypt(keyid, cts[0]) == b"one" and client.decrypt(keyid, cts[1]) == b"later"
    # errors
    body: dict[str, Any] = {"keyid": keyid, "minDecryptionVersion": 5}
    assert fails(client, "UpdateKeyVersionPolicy", body) == (
        "Parameter invalid, The minDecryptionVersion must be between 1 and 4."
    )
    assert fails(client, "UpdateKeyVersionPolicy", {**body, "minDecryptionVersion": 0}) == (
        "Parameter invalid, The minDecryptionVersion value must be greater than or equal to 1."
    )
    assert fails(client, "UpdateKeyVersionPolicy", {"keyid": keyid}) == (
        "Missing required parameters, The minDecryptionVersion cannot be empty."
    )
    assert fails(client, "UpdateKeyVersionPolicy", {**body, "keyid": UNKNOWN}) == KEYID_ERROR
    assert fails(other_client, "UpdateKeyVersionPolicy", {**body, "minDecryptionVersion": 1}) == KEYID_ERROR
    ec = client.create_key("EH_EC_P256")
    assert fails(client, "UpdateKeyVersionPolicy", {"keyid": ec, "minDecryptionVersion": 1}) == NOT_ROTATABLE.format(
        keyspec="EH_EC_P256"
    )
    assert client.list_key_rotations(keyid).min_decryption_version == 1


# -- ReEncrypt ---------------------------------------------------------------------------------------------
def test_reencrypt_moves_to_the_primary_and_to_another_key(client: Client) -> None:
    keyid, other = client.create_key("EH_AES_GCM_256"), client.create_key("EH_SM4_CBC")
    old = client.encrypt(keyid, b"payload", aad=b"a1")
    client.rotate_key(keyid)
    client.rotate_key(keyid)
    moved = client.reencrypt(keyid, old, aad=b"a1", destination_aad=b"a1")
    assert (moved.source_key_version, moved.key_version, moved.keyid) == (1, 3, keyid)
    assert version_of(moved.ciphertext) == 3 and client.decrypt(keyid, moved.ciphertext, aad=b"a1") == b"payload"
    across = client.reencrypt(keyid, moved.ciphertext, aad=b"a1", destination_key_id=other, destination_aad=b"a2")
    assert (across.source_key_id, across.source_key_version, across.keyid, across.key_version) == (keyid, 3, other, 1)
    assert client.decrypt(other, across.ciphertext, aad=b"a2") == b"payload"


def test_reencrypt_errors(client: Client, other_client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    ct = b64(client.encrypt(keyid, b"x", aad=b"a"))
    body = {"keyid": keyid, "ciphertext": ct, "aad": b64(b"a"), "destinationKeyId": keyid}
    assert fails(client, "ReEncrypt", {k: v for k, v in body.items() if k != "destinationKeyId"}) == (
        "Missing required parameters, The destinationKeyId cannot be empty."
    )
    assert fails(client, "ReEncrypt", {**body, "aad": b64(b"b")}) == DECRYPT_FAILED
    assert fails(client, "ReEncrypt", {**body, "ciphertext": b64(b"not a blob")}) == BAD_BLOB
    assert fails(client, "ReEncrypt", {**body, "keyid": UNKNOWN}) == KEYID_ERROR
    assert fails(other_client, "ReEncrypt", {**body}) == KEYID_ERROR  # the source key is checked first
    assert fails(other_client, "ReEncrypt", {**body, "keyid": other_client.create_key("EH_AES_GCM_256")}) == (
        DESTINATION_UNUSABLE + KEYID_ERROR  # another app's destination key: unknown
    )
    assert fails(client, "ReEncrypt", {**body, "destinationKeyId": UNKNOWN}) == DESTINATION_UNUSABLE + KEYID_ERROR
    rsa = client.create_key("EH_RSA_2048")
    assert fails(client, "ReEncrypt", {**body, "destinationKeyId": rsa}) == (
        DESTINATION_UNUSABLE + "The keyspec EH_RSA_2048 does not support Encrypt."
    )
    dest = client.create_key("EH_SM4_CTR")
    client.disable_key(dest)
    assert fails(client, "ReEncrypt", {**body, "destinationKeyId": dest}) == DESTINATION_UNUSABLE + KEY_DISABLED
    client.disable_key(keyid)
    assert fails(client, "ReEncrypt", {**body, "destinationKeyId": client.create_key("EH_AES_GCM_128")}) == (
        KEY_DISABLED
    )


@pytest.fixture
def audited_server(tmp_path: Path) -> Iterator[InProcessServer]:
    settings = Settings(data_dir=tmp_path / "data", pool_depth=dict(SMALL_POOL), audit_log=str(tmp_path / "audit.log"))
    with in_process_server(settings) as srv:
        yield srv


def test_reencrypt_leaves_no_plaintext_in_the_audit_log_or_server_log(
    audited_server: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = b"MARKER-reencrypt-plaintext-7f3a9c"
    caplog.set_level(logging.DEBUG)
    with Client.enroll(audited_server.base) as c:
        keyid, other = c.create_key("EH_AES_GCM_256"), c.create_key("EH_SM4_CTR")
        ct = c.encrypt(keyid, secret)
        c.rotate_key(keyid)
        moved = c.reencrypt(keyid, ct, destination_key_id=other)
        assert c.decrypt(other, moved.ciphertext) == secret
        fails(c, "ReEncrypt", {"keyid": keyid, "ciphertext": b64(ct), "aad": b64(b"wrong"), "destinationKeyId": other})
    lines = audit_lines_once(
        Path(audited_server.settings.audit_log), lambda e: e.get("action") == "ReEncrypt" and e.get("code") == 400
    )
    assert [e.get("action") for e in lines].count("ReEncrypt") == 2  # (the trail also holds checkpoint lines)
    audit = Path(audited_server.settings.audit_log).read_text()
    logged = caplog.text
    for form in (secret.decode(), b64(secret), secret.hex()):
        assert form not in audit and form not in logged


# -- across a restart ---------------------------------------------------------------------------------------
def test_every_version_decrypts_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", pool_depth=dict(SMALL_POOL))
    with in_process_server(settings) as srv, Client.enroll(srv.base) as c:
        appid, apikey = c.appid, c.apikey
        keyid = c.create_key("EH_SM4_CBC")
        made = [c.encrypt(keyid, b"version 1")]
        for n in range(2, 5):
            c.rotate_key(keyid)
            made.append(c.encrypt(keyid, f"version {n}".encode()))
        c.update_key_version_policy(keyid, 2)
    with in_process_server(settings) as srv, Client(srv.base, appid, apikey) as c:
        assert fails(c, "Decrypt", {"keyid": keyid, "ciphertext": b64(made[0])}) == VERSION_RETIRED
        assert [c.decrypt(keyid, ct) for ct in made[1:]] == [b"version 2", b"version 3", b"version 4"]
        c.update_key_version_policy(keyid, 1)
        assert c.decrypt(keyid, made[0]) == b"version 1"
        assert version_of(c.encrypt(keyid, b"new")) == 4


# -- the AWS KMS door's keyed ciphertexts (docs/ciphertext-format.md) ---------------------------------------
def test_reencrypt_and_the_minimum_version_take_the_aws_doors_keyed_ciphertexts(
    server: ServerProcess, client: Client
) -> None:
    aws = kms(server.url, client.appid, client.apikey)
    keyid = client.create_key("EH_AES_GCM_256")
    keyed_v1 = bytes(aws.encrypt(KeyId=keyid, Plaintext=b"payload")["CiphertextBlob"])
    client.rotate_key(keyid)
    moved = client.reencrypt(keyid, keyed_v1)
    assert (moved.source_key_version, moved.key_version) == (1, 2)
    assert client.decrypt(keyid, moved.ciphertext) == b"payload"
    client.update_key_version_policy(keyid, 2)
    with pytest.raises(ClientError) as refused:  # the keyed path goes through the same version check
        aws.decrypt(CiphertextBlob=keyed_v1)
    assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert fails(client, "ReEncrypt", {"keyid": keyid, "ciphertext": b64(keyed_v1), "destinationKeyId": keyid}) == (
        VERSION_RETIRED
    )
