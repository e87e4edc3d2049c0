"""Secrets never reach the logs: a server at --log-level debug with the audit trail on serves Encrypt, Decrypt,
GenerateDataKey, ImportKeyMaterial and PutSecretValue on both doors, successes and failures; then neither its
log nor its audit file holds a plaintext, a data key, imported key material, a secret value, the apikey, an
envelope signature or a SigV4 signature (in any of the forms they travelled in)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pyehsm.client import Client
from tests.support.aws import kms
from tests.support.server import NO_POOL_ARGS, ServerProcess, audit_lines_once

PLAINTEXT = b"plaintext-canary-5d1c"
SECRET_VALUES = ("secret-canary-one", "secret-canary-two", "secret-canary-refused")


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("redteam-logs")
    audit = root / "audit.log"
    proc = ServerProcess(root / "data", "--log-level", "debug", "--audit-log", str(audit), *NO_POOL_ARGS).start()
    try:
        yield proc, audit
    finally:
        proc.stop()


def _forms(value: bytes) -> set[bytes]:
    """The forms a secret travels or could be logged in: raw, hex, base64 (standard and URL-safe, unpadded)."""
    b64 = base64.b64encode(value)
    return {value, value.hex().encode(), b64, b64.rstrip(b"="), base64.urlsafe_b64encode(value).rstrip(b"=")}


def _aws_door(server: ServerProcess, client: Client) -> list[bytes]:
    aws: Any = kms(server.url, client.appid, client.apikey, validate=False)
    secrets = [PLAINTEXT]
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    blob = aws.encrypt(KeyId=keyid, Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
    secrets.append(aws.generate_data_key(KeyId=keyid, KeySpec="AES_256")["Plaintext"])
    failures: list[Callable[[], object]] = [
        lambda: aws.decrypt(CiphertextBlob=blob, EncryptionContext={"wrong": "context"}),
        lambda: aws.decrypt(CiphertextBlob=blob[:-4] + b"\x00\x00\x00\x00"),
        lambda: aws.encrypt(KeyId="alias/missing", Plaintext=PLAINTEXT),
        lambda: aws.encrypt(KeyId=keyid, Plaintext=PLAINTEXT * 300),
    ]
    for fail in failures:
        with pytest.raises(ClientError):
            fail()
    external = aws.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = aws.get_parameters_for_import(
        KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    material = os.urandom(32)
    secrets.append(material)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = public.encrypt(material, oaep)
    with pytest.raises(ClientError):
        aws.import_key_material(KeyId=external, ImportToken=b"\x01forged", EncryptedKeyMaterial=wrapped)
    aws.import_key_material(KeyId=external, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
    # a SigV4 signature, sent once as signed and once with the target changed (refused)
    body = b"{}"
    request = AWSRequest(
        method="POST",
        url=f"{server.url}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"},
    )
    SigV4Auth(Credentials(client.appid, client.apikey), "kms", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert httpx.post(request.url, content=body, headers=headers).status_code == 200
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    assert httpx.post(request.url, content=body, headers=headers).status_code == 400
    secrets.append(request.headers["Authorization"].split("Signature=")[1].encode())
    with pytest.raises(ClientError):
        kms(server.url, client.appid, client.apikey + "x").list_keys()
    return secrets


def _ehsm_door(client: Client) -> list[bytes]:
    secrets = [client.apikey.encode()]
    keyid = client.create_key("EH_AES_GCM_256", "EH_INTERNAL_KEY")
    plain, aad = base64.b64encode(PLAINTEXT).decode(), base64.b64encode(b"aad-canary").decode()
    ciphertext = client.call("Encrypt", {"keyid": keyid, "plaintext": plain, "aad": aad})["ciphertext"]
    assert client.call("Decrypt", {"keyid": keyid, "ciphertext": ciphertext, "aad": aad})["plaintext"] == plain
    assert client.request("Decrypt", {"keyid": keyid, "ciphertext": ciphertext, "aad": "QUFBQQ=="}).code == 400
    data_key = client.call("GenerateDataKey", {"keyid": keyid, "keylen": 32})["plaintext"]
    secrets.append(base64.b64decode(data_key))
    client.call("CreateSecret", {"secretName": "canary", "secretData": SECRET_VALUES[0]})
    client.call("PutSecretValue", {"secretName": "canary", "secretData": SECRET_VALUES[1]})
    refused = {"secretName": "no-such-secret", "secretData": SECRET_VALUES[2]}
    assert client.request("PutSecretValue", refused).code == 400
    envelope = client.envelope({"keyid": keyid, "plaintext": plain})
    secrets.append(base64.b64decode(envelope["sign"]))
    assert client.post_raw("Encrypt", envelope).code == 200
    assert client.post_raw("Encrypt", envelope).code == 400  # a replay
    forged = {**client.envelope({"keyid": keyid, "plaintext": plain}), "sign": envelope["sign"]}
    assert client.post_raw("Encrypt", forged).code == 400
    return secrets + [value.encode() for value in SECRET_VALUES]


def test_no_secret_in_the_debug_log_or_the_audit_trail(debug_server: tuple[ServerProcess, Path]) -> None:
    server, audit = debug_server
    with server.client() as client:
        secrets = _aws_door(server, client) + _ehsm_door(client)
        appid = client.appid
        assert client.request("DescribeKey", {"keyid": "alias/the-last-request"}).code == 400

    def last(line: dict[str, Any]) -> bool:  # the audit writer is asynchronous: wait for the last record
        return line.get("action") == "DescribeKey" and line.get("appid") == appid

    lines = audit_lines_once(audit, last)
    assert sum(line.get("appid") == appid for line in lines) >= 20
    targets = {"server log": server.log().encode(), "audit log": audit.read_bytes()}
    for name, text in targets.items():
        leaked = [index for index, secret in enumerate(secrets) if any(form in text for form in _forms(secret))]
        assert leaked == [], f"{name} holds the secrets numbered {leaked}"  # numbers only: never print a secret
