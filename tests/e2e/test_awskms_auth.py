"""SigV4 on the AWS KMS door: the time window (injected clock), wrong secrets, unknown access keys,
tampered bodies, missing or malformed authorization, repeated identical requests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from pyehsm.client import Client
from pyehsm.clock import ManualClock
from tests.support.aws import kms
from tests.support.server import InProcessServer


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _signed(url: str, appid: str, apikey: str, target: str, body: bytes) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
    )
    SigV4Auth(Credentials(appid, apikey), "kms", "us-east-1").add_auth(request)
    return request


def _send(request: AWSRequest, body: bytes | None = None) -> httpx.Response:
    headers = dict(request.headers.items())
    return httpx.post(request.url, content=request.body if body is None else body, headers=headers)


def test_any_region_is_accepted(manual_server: InProcessServer, manual_client: Client) -> None:
    for region in ("us-east-1", "eu-central-1", "cn-north-1"):
        aws = kms(manual_server.url, manual_client.appid, manual_client.apikey, region=region)
        meta = aws.create_key()["KeyMetadata"]
        assert meta["Arn"].startswith("arn:aws:kms:us-east-1:")  # the server's region names its keys


def test_request_expired_beyond_fifteen_minutes(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    aws = kms(manual_server.url, manual_client.appid, manual_client.apikey)
    clock.advance(seconds=14 * 60)
    assert aws.list_keys()["Keys"] == []  # 14 minutes behind the server: still accepted
    clock.advance(seconds=2 * 60)
    with pytest.raises(ClientError) as exc:
        aws.list_keys()
    assert _code(exc) == "RequestExpired"
    clock.advance(seconds=-32 * 60)  # the request is now 16 minutes in the server's future
    with pytest.raises(ClientError) as exc:
        aws.list_keys()
    assert _code(exc) == "RequestExpired"


def test_wrong_secret_is_an_invalid_signature(manual_server: InProcessServer, manual_client: Client) -> None:
    aws = kms(manual_server.url, manual_client.appid, manual_client.apikey + "x")
    with pytest.raises(ClientError) as exc:
        aws.list_keys()
    assert _code(exc) == "InvalidSignatureException"
    assert manual_client.apikey not in str(exc.value)


def test_unknown_access_key(manual_server: InProcessServer) -> None:
    aws = kms(manual_server.url, "not-an-app", "secret")
    with pytest.raises(ClientError) as exc:
        aws.list_keys()
    assert _code(exc) == "UnrecognizedClientException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tampered_body_and_claimed_hash(manual_server: InProcessServer, manual_client: Client) -> None:
    aws = kms(manual_server.url, manual_client.appid, manual_client.apikey)
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": keyid, "Plaintext": "aGVsbG8="}).encode()
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "Encrypt", body)
    assert _send(request).status_code == 200
    other = json.dumps({"KeyId": keyid, "Plaintext": "aGVsbG9v"}).encode()
    answer = _send(request, other)
    assert answer.status_code == 400 and answer.json()["__type"] == "InvalidSignatureException"
    # a signed X-Amz-Content-SHA256 claim that is not the body's hash is refused, UNSIGNED-PAYLOAD included
    for claim in ("UNSIGNED-PAYLOAD", "0" * 64):
        req = AWSRequest(
            method="POST",
            url=f"{manual_server.url}/",
            data=other,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "TrentService.Encrypt",
                "X-Amz-Content-SHA256": claim,
            },
        )
        SigV4Auth(Credentials(manual_client.appid, manual_client.apikey), "kms", "us-east-1").add_auth(req)
        assert _send(req).json()["__type"] == "InvalidSignatureException"


def test_changed_target_is_an_invalid_signature(manual_server: InProcessServer, manual_client: Client) -> None:
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "ListKeys", b"{}")
    headers = dict(request.headers.items())
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    answer = httpx.post(request.url, content=b"{}", headers=headers)
    assert answer.json()["__type"] == "InvalidSignatureException"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "MissingAuthenticationTokenException"),
        ({"Authorization": "AWS4-HMAC-SHA256 Credential=x"}, "IncompleteSignatureException"),
        ({"Authorization": "Basic abc"}, "IncompleteSignatureException"),
    ],
)
def test_missing_or_malformed_authorization(
    manual_server: InProcessServer, headers: dict[str, str], expected: str
) -> None:
    answer = httpx.post(
        f"{manual_server.url}/",
        content=b"{}",
        headers={"X-Amz-Target": "TrentService.ListKeys", "Content-Type": "application/x-amz-json-1.1", **headers},
    )
    assert answer.status_code == 400
    assert answer.json()["__type"] == expected
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"


def test_identical_requests_in_one_second_are_both_answered(
    manual_server: InProcessServer, manual_client: Client
) -> None:
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "CreateKey", b"{}")
    first, second = _send(request), _send(request)  # same signature: AWS answers both, so does pyehsm
    assert first.status_code == second.status_code == 200
    assert first.json()["KeyMetadata"]["KeyId"] != second.json()["KeyMetadata"]["KeyId"]


def test_unknown_operation_and_bad_json(manual_server: InProcessServer, manual_client: Client) -> None:
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "NoSuchOperation", b"{}")
    answer = _send(request)
    assert answer.status_code == 400 and answer.json()["__type"] == "UnsupportedOperationException"
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "ListKeys", b"[1]")
    assert _send(request).json()["__type"] == "SerializationException"
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "ListKeys", b"{nope")
    assert _send(request).json()["__type"] == "SerializationException"
    request = _signed(manual_server.url, manual_client.appid, manual_client.apikey, "Encrypt", b'{"KeyId": 5}')
    assert _send(request).json()["__type"] == "ValidationException"


def test_get_on_root_is_not_a_server_error(manual_server: InProcessServer) -> None:
    answer = httpx.get(f"{manual_server.url}/")
    assert answer.status_code == 400
    assert answer.json()["__type"] == "UnknownOperationException"


def test_raw_request_shapes(manual_server: InProcessServer, manual_client: Client) -> None:
    aws: Any = kms(manual_server.url, manual_client.appid, manual_client.apikey)
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": keyid, "Plaintext": "aGVsbG8="}).encode()
    answer = _send(_signed(manual_server.url, manual_client.appid, manual_client.apikey, "Encrypt", body))
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert answer.headers["x-amzn-requestid"]
    assert set(answer.json()) == {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"}
