"""Attacks on the AWS KMS door from outside (raw SigV4 requests and boto3): malformed bodies, signatures
scoped to another service, odd paging markers, policy documents that are not JSON. Each answer must be a
clean AWS-shaped 4xx that changes nothing, never a server error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from pyehsm.client import Client
from pyehsm.protocols.awskms.ids import account_of
from tests.support.aws import kms
from tests.support.server import ServerProcess


@pytest.fixture
def aws(server: ServerProcess, client: Client) -> Iterator[Any]:
    yield kms(server.url, client.appid, client.apikey, validate=False)


def _post(
    server: ServerProcess, client: Client, target: str, body: bytes, service: str = "kms", region: str = "us-east-1"
) -> httpx.Response:
    request = AWSRequest(
        method="POST",
        url=f"{server.url}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"},
    )
    SigV4Auth(Credentials(client.appid, client.apikey), service, region).add_auth(request)
    return httpx.post(request.url, content=body, headers=dict(request.headers.items()), timeout=30)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _key_count(aws: Any) -> int:
    return len(aws.list_keys(Limit=1000)["Keys"])


# -- request bodies -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,  # deeper than the decoder recurses
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"Description":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["arrays", "objects", "member"],
)
def test_deeply_nested_json_is_a_serialization_error_and_creates_no_key(
    server: ServerProcess, client: Client, aws: Any, body: bytes
) -> None:
    answer = _post(server, client, "CreateKey", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["__type"] == "SerializationException"
    assert _key_count(aws) == 0


# -- the credential scope -------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["s3", "sts", "KMS", "kms2", ""])
def test_a_signature_scoped_to_another_service_is_refused(
    server: ServerProcess, client: Client, aws: Any, service: str
) -> None:
    """A SigV4 signature is scoped to one service: one made for S3 (or STS...) with the same credentials must
    not be accepted by KMS, as AWS refuses it (the region, by contrast, may be any)."""
    answer = _post(server, client, "CreateKey", b"{}", service=service)
    assert answer.status_code == 400, answer.text
    assert answer.json()["__type"] in ("InvalidSignatureException", "IncompleteSignatureException")
    assert "kms" in answer.json()["message"]
    assert _key_count(aws) == 0
    assert _post(server, client, "ListKeys", b"{}", region="ap-southeast-7").status_code == 200


# -- paging markers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("marker", ["\u00b2", "\u0663", "\u00b9\u00b2", "1\u00b2", "-1", "", "1.5", "alias/x"])
def test_markers_that_no_listing_returned_are_invalid_markers(aws: Any, marker: str) -> None:
    """str.isdigit() is true for superscripts and other scripts' digits, which int() refuses or reads as
    numbers: every such marker is an InvalidMarkerException (4xx), never a server error."""
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        aws.list_keys(Marker=marker)
    assert _code(exc) == "InvalidMarkerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        aws.list_key_rotations(KeyId=keyid, Marker=marker)
    assert _code(exc) == "InvalidMarkerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_list_keys_pages_with_its_own_markers(aws: Any) -> None:
    made = [aws.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    seen: list[str] = []
    page = aws.list_keys(Limit=2)
    seen += [k["KeyId"] for k in page["Keys"]]
    assert page["Truncated"]
    page = aws.list_keys(Limit=2, Marker=page["NextMarker"])
    seen += [k["KeyId"] for k in page["Keys"]]
    assert not page["Truncated"]
    assert sorted(seen) == sorted(made)


# -- key policies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_a_policy_that_is_not_json_is_refused(aws: Any, policy: str) -> None:
    """NaN and Infinity are not JSON (RFC 8259): a stored policy must be a document every JSON parser reads."""
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        aws.put_key_policy(KeyId=keyid, PolicyName="default", Policy=policy)
    assert _code(exc) == "MalformedPolicyDocumentException"
    json.loads(aws.get_key_policy(KeyId=keyid, PolicyName="default")["Policy"])  # still the default
    before = _key_count(aws)
    with pytest.raises(ClientError) as exc:
        aws.create_key(Policy=policy)
    assert _code(exc) == "MalformedPolicyDocumentException"
    assert _key_count(aws) == before


# -- what must be signed --------------------------------------------------------------------------------
def test_a_signature_that_leaves_out_the_target_is_refused(server: ServerProcess, client: Client, aws: Any) -> None:
    """A request is valid (and repeatable) for its 15-minute window: if X-Amz-Target were not signed, anyone
    who saw a DescribeKey could send it again as ScheduleKeyDeletion or DisableKey with the same body."""
    keyid = aws.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": keyid}).encode()
    request = AWSRequest(method="POST", url=f"{server.url}/", data=body, headers={})
    SigV4Auth(Credentials(client.appid, client.apikey), "kms", "us-east-1").add_auth(request)
    assert "x-amz-target" not in request.headers["Authorization"]  # signed: host and x-amz-date only
    headers = {**dict(request.headers.items()), "Content-Type": "application/x-amz-json-1.1"}
    for target in ("DescribeKey", "ScheduleKeyDeletion", "DisableKey"):
        headers["X-Amz-Target"] = f"TrentService.{target}"
        answer = httpx.post(request.url, content=body, headers=headers, timeout=30)
        assert answer.status_code == 400, answer.text
        assert answer.json()["__type"] == "IncompleteSignatureException"
        assert "x-amz-target" in answer.json()["message"]
    assert aws.describe_key(KeyId=keyid)["KeyMetadata"]["KeyState"] == "Enabled"


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Amz-Target", "TrentService.CreateKey"), ("Authorization", "junk"), ("X-Amz-Date", "20000101T000000Z")],
)
@pytest.mark.parametrize("first", [True, False], ids=["before", "after"])
def test_a_repeated_header_is_not_half_signed(
    server: ServerProcess, client: Client, aws: Any, name: str, value: str, first: bool
) -> None:
    """A header sent twice is both values (SigV4 canonicalizes them joined by commas), never the signed one
    alone: an unsigned second X-Amz-Target must not ride along a signed request for a proxy to read."""
    request = AWSRequest(
        method="POST",
        url=f"{server.url}/",
        data=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"},
    )
    SigV4Auth(Credentials(client.appid, client.apikey), "kms", "us-east-1").add_auth(request)
    signed = list(request.headers.items())
    headers = [(name, value), *signed] if first else [*signed, (name, value)]
    answer = httpx.post(request.url, content=b"{}", headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["__type"] in (
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "RequestExpired",
    )
    assert _key_count(aws) == 0


# -- tenant isolation (held: a regression guard) ----------------------------------------------------------
_FOREIGN_CALLS: dict[str, Any] = {
    "DescribeKey": lambda a, kid, blob: a.describe_key(KeyId=kid),
    "Encrypt": lambda a, kid, blob: a.encrypt(KeyId=kid, Plaintext=b"x"),
    "Decrypt": lambda a, kid, blob: a.decrypt(KeyId=kid, CiphertextBlob=blob),
    "GenerateDataKey": lambda a, kid, blob: a.generate_data_key(KeyId=kid, KeySpec="AES_256"),
    "TagResource": lambda a, kid, blob: a.tag_resource(KeyId=kid, Tags=[{"TagKey": "t", "TagValue": "v"}]),
    "UntagResource": lambda a, kid, blob: a.untag_resource(KeyId=kid, TagKeys=["owner"]),
    "ListResourceTags": lambda a, kid, blob: a.list_resource_tags(KeyId=kid),
    "CreateAlias": lambda a, kid, blob: a.create_alias(AliasName="alias/stolen", TargetKeyId=kid),
    "UpdateAlias": lambda a, kid, blob: a.update_alias(AliasName="alias/own", TargetKeyId=kid),
    "ListAliases": lambda a, kid, blob: a.list_aliases(KeyId=kid),
    "ScheduleKeyDeletion": lambda a, kid, blob: a.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7),
    "CancelKeyDeletion": lambda a, kid, blob: a.cancel_key_deletion(KeyId=kid),
    "DisableKey": lambda a, kid, blob: a.disable_key(KeyId=kid),
    "UpdateKeyDescription": lambda a, kid, blob: a.update_key_description(KeyId=kid, Description="mine"),
    "EnableKeyRotation": lambda a, kid, blob: a.enable_key_rotation(KeyId=kid),
    "RotateKeyOnDemand": lambda a, kid, blob: a.rotate_key_on_demand(KeyId=kid),
    "GetKeyRotationStatus": lambda a, kid, blob: a.get_key_rotation_status(KeyId=kid),
    "ListKeyRotations": lambda a, kid, blob: a.list_key_rotations(KeyId=kid),
    "PutKeyPolicy": lambda a, kid, blob: a.put_key_policy(KeyId=kid, PolicyName="default", Policy="{}"),
    "GetKeyPolicy": lambda a, kid, blob: a.get_key_policy(KeyId=kid, PolicyName="default"),
}


def test_another_apps_key_is_a_missing_key_under_every_name(
    server: ServerProcess, client: Client, other_client: Client, aws: Any
) -> None:
    """App A names app B's key by key id, B's key ARN, A's ARN around B's key id, B's alias name and B's alias
    ARN: every metadata operation answers what it answers for a key that does not exist, word for word
    (with the name swapped), and B's key, alias, tags, description and policy are unchanged."""
    victim: Any = kms(server.url, other_client.appid, other_client.apikey, validate=False)
    keyid = victim.create_key(Description="b", Tags=[{"TagKey": "owner", "TagValue": "b"}])["KeyMetadata"]["KeyId"]
    victim.create_alias(AliasName="alias/b", TargetKeyId=keyid)
    blob = victim.encrypt(KeyId=keyid, Plaintext=b"b's")["CiphertextBlob"]
    aws.create_alias(AliasName="alias/own", TargetKeyId=aws.create_key()["KeyMetadata"]["KeyId"])
    missing = "00000000-0000-4000-8000-000000000000"
    b_arn, a_arn = (f"arn:aws:kms:us-east-1:{account_of(app.appid)}" for app in (other_client, client))
    names = {
        keyid: missing,
        f"{b_arn}:key/{keyid}": f"{b_arn}:key/{missing}",
        f"{a_arn}:key/{keyid}": f"{a_arn}:key/{missing}",
        "alias/b": "alias/nothing",
        f"{b_arn}:alias/b": f"{b_arn}:alias/nothing",
    }
    for operation, call in _FOREIGN_CALLS.items():
        for foreign, absent in names.items():
            answers = []
            for name in (foreign, absent):
                with pytest.raises(ClientError) as exc:
                    call(aws, name, blob if operation != "Decrypt" or name == foreign else b"x" * 60)
                error = exc.value.response["Error"]
                answers.append(
                    (error["Code"], error["Message"].replace(name, "<name>").replace(name.rsplit("/", 1)[-1], "<name>"))
                )
            if operation != "Decrypt":  # Decrypt of a blob naming another key is IncorrectKey for a missing one
                assert answers[0] == answers[1], (operation, answers)
            alias_target = operation in ("CreateAlias", "UpdateAlias") and foreign.startswith(
                "alias/"
            )  # AWS: not a key
            expected = "ValidationException" if alias_target else "NotFoundException"
            assert answers[0][0] == expected, (operation, foreign, answers[0])
    with pytest.raises(ClientError) as exc:
        aws.decrypt(CiphertextBlob=blob)  # the blob names B's key: not found for A
    assert _code(exc) == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        aws.delete_alias(AliasName="alias/b")
    assert _code(exc) == "NotFoundException"
    assert [a["AliasName"] for a in aws.list_aliases()["Aliases"]] == ["alias/own"]
    assert keyid not in json.dumps(aws.list_keys(), default=str)
    meta = victim.describe_key(KeyId="alias/b")["KeyMetadata"]
    assert (meta["KeyId"], meta["KeyState"], meta["Description"]) == (keyid, "Enabled", "b")
    assert victim.list_resource_tags(KeyId=keyid)["Tags"] == [{"TagKey": "owner", "TagValue": "b"}]
    assert [a["AliasName"] for a in victim.list_aliases()["Aliases"]] == ["alias/b"]
    assert json.loads(victim.get_key_policy(KeyId=keyid, PolicyName="default")["Policy"])["Id"] == "key-default-1"
    assert victim.get_key_rotation_status(KeyId=keyid)["KeyRotationEnabled"] is False
    assert len(victim.list_key_rotations(KeyId=keyid)["Rotations"]) == 0
