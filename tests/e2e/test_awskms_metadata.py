"""The AWS KMS door's key metadata through boto3 against a real server: identifiers (key ids, key ARNs, alias
names and ARNs), DescribeKey, scheduled deletion, descriptions, aliases, tags, rotation and key policies,
with AWS's error classes; and the same metadata seen from the eHSM door."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pyehsm.client import Client
from pyehsm.protocols.awskms.ids import account_of
from tests.support.aws import kms
from tests.support.server import NO_POOL_ARGS, ServerProcess, audit_lines_once

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def aws(server: ServerProcess, client: Client) -> Iterator[Any]:
    """botocore's own parameter checks off: out-of-range members reach the server, which must refuse them."""
    yield kms(server.url, client.appid, client.apikey, validate=False)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _key(aws: Any, **kwargs: Any) -> str:
    return str(aws.create_key(**kwargs)["KeyMetadata"]["KeyId"])


def _arn(client: Client, resource: str, region: str = "us-east-1") -> str:
    return f"arn:aws:kms:{region}:{account_of(client.appid)}:{resource}"


def _key_count(aws: Any) -> int:
    return len(aws.list_keys(Limit=1000)["Keys"])


# -- identifiers ----------------------------------------------------------------------------------------
def test_every_operation_takes_a_key_id_key_arn_alias_name_or_alias_arn(aws: Any, client: Client) -> None:
    keyid = _key(aws)
    aws.create_alias(AliasName="alias/ids", TargetKeyId=keyid)
    key_arn = _arn(client, f"key/{keyid}")
    names = [keyid, key_arn, "alias/ids", _arn(client, "alias/ids"), _arn(client, "alias/ids", "eu-west-3")]
    for name in names:
        out = aws.encrypt(KeyId=name, Plaintext=b"named")
        assert out["KeyId"] == key_arn  # always the key's own ARN, as AWS answers
        assert aws.decrypt(KeyId=name, CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"named"
        assert aws.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == keyid
        assert aws.generate_data_key(KeyId=name, KeySpec="AES_256")["KeyId"] == key_arn
    aws.disable_key(KeyId="alias/ids")
    assert aws.describe_key(KeyId=keyid)["KeyMetadata"]["KeyState"] == "Disabled"
    aws.enable_key(KeyId=_arn(client, "alias/ids"))
    signer = _key(aws, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    aws.create_alias(AliasName="alias/signer", TargetKeyId=signer)
    signature = aws.sign(KeyId="alias/signer", Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert aws.verify(
        KeyId=_arn(client, "alias/signer"), Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
    )["SignatureValid"]
    assert aws.get_public_key(KeyId="alias/signer")["KeyId"] == _arn(client, f"key/{signer}")


def test_unknown_and_foreign_aliases_do_not_exist(aws: Any, client: Client, other_client: Client) -> None:
    keyid = _key(aws)
    aws.create_alias(AliasName="alias/mine", TargetKeyId=keyid)
    stranger = kms(aws.meta.endpoint_url, other_client.appid, other_client.apikey)
    for name in ("alias/mine", _arn(client, "alias/mine"), _arn(other_client, "alias/mine")):
        with pytest.raises(stranger.exceptions.NotFoundException):
            stranger.encrypt(KeyId=name, Plaintext=b"x")
    with pytest.raises(aws.exceptions.NotFoundException) as exc:
        aws.describe_key(KeyId="alias/never-made")
    assert "alias/never-made" in exc.value.response["Error"]["Message"]
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.describe_key(KeyId="arn:aws:kms:us-east-1:000000000000:alias/mine")  # another account
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.describe_key(KeyId=_arn(client, "grant/mine"))  # not a key or alias resource


# -- DescribeKey, descriptions, scheduled deletion -----------------------------------------------------
def test_describe_key_reports_the_whole_key_metadata(aws: Any, client: Client) -> None:
    created = aws.create_key(Description="payments key")["KeyMetadata"]
    assert created["Description"] == "payments key"
    meta = aws.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
    assert meta == created
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True and meta["KeyManager"] == "CUSTOMER"
    assert meta["AWSAccountId"] == account_of(client.appid) and meta["MultiRegion"] is False
    assert "DeletionDate" not in meta and "ExpirationModel" not in meta
    signer = aws.create_key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert aws.describe_key(KeyId=signer["KeyId"])["KeyMetadata"]["SigningAlgorithms"] == signer["SigningAlgorithms"]
    external = aws.describe_key(KeyId=_key(aws, Origin="EXTERNAL"))["KeyMetadata"]
    assert (external["Origin"], external["KeyState"], external["Enabled"]) == ("EXTERNAL", "PendingImport", False)
    assert external["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    hmac = aws.describe_key(KeyId=client.create_key("EH_HMAC"))["KeyMetadata"]  # an eHSM-door HMAC key
    assert (hmac["KeySpec"], hmac["KeyUsage"], hmac["MacAlgorithms"]) == (
        "HMAC_256",
        "GENERATE_VERIFY_MAC",
        ["HMAC_SHA_256"],
    )
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.describe_key(KeyId=MISSING)


def test_update_key_description(aws: Any) -> None:
    keyid = _key(aws, Description="first")
    aws.update_key_description(KeyId=keyid, Description="second")
    assert aws.describe_key(KeyId=keyid)["KeyMetadata"]["Description"] == "second"
    aws.update_key_description(KeyId=keyid, Description="")
    assert aws.describe_key(KeyId=keyid)["KeyMetadata"]["Description"] == ""
    with pytest.raises(ClientError) as exc:
        aws.update_key_description(KeyId=keyid, Description="d" * 8193)
    assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.update_key_description(KeyId=MISSING, Description="x")


def test_schedule_and_cancel_key_deletion(aws: Any, client: Client) -> None:
    keyid = _key(aws)
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"kept")["CiphertextBlob"]
    created = aws.describe_key(KeyId=keyid)["KeyMetadata"]["CreationDate"]
    out = aws.schedule_key_deletion(KeyId=keyid)
    assert out["KeyId"] == _arn(client, f"key/{keyid}")
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 30)
    assert timedelta(days=30) <= out["DeletionDate"] - created < timedelta(days=30, minutes=10)
    meta = aws.describe_key(KeyId=keyid)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["DeletionDate"]) == ("PendingDeletion", False, out["DeletionDate"])
    for use in (
        lambda: aws.encrypt(KeyId=keyid, Plaintext=b"x"),
        lambda: aws.decrypt(CiphertextBlob=blob),
        lambda: aws.enable_key(KeyId=keyid),
        lambda: aws.schedule_key_deletion(KeyId=keyid, PendingWindowInDays=7),
        lambda: aws.enable_key_rotation(KeyId=keyid),
    ):
        with pytest.raises(aws.exceptions.KMSInvalidStateException):
            use()
    aws.cancel_key_deletion(KeyId=keyid)
    meta = aws.describe_key(KeyId=keyid)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False) and "DeletionDate" not in meta
    with pytest.raises(aws.exceptions.KMSInvalidStateException):
        aws.cancel_key_deletion(KeyId=keyid)  # not pending any more
    aws.enable_key(KeyId=keyid)
    assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    seven = aws.schedule_key_deletion(KeyId=keyid, PendingWindowInDays=7)
    assert seven["PendingWindowInDays"] == 7
    for days in (6, 31):
        with pytest.raises(ClientError) as exc:
            aws.schedule_key_deletion(KeyId=_key(aws), PendingWindowInDays=days)
        assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.schedule_key_deletion(KeyId=MISSING)


# -- CreateKey with Description, Tags and Policy ------------------------------------------------------
def test_create_key_stores_description_tags_and_policy(aws: Any) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    tags = [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": ""}]
    meta = aws.create_key(Description="described", Tags=tags, Policy=policy)["KeyMetadata"]
    assert meta["Description"] == "described"
    assert aws.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == tags
    assert aws.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"] == policy


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"Tags": [{"TagKey": "aws:reserved", "TagValue": "x"}]}, "TagException"),
        ({"Tags": [{"TagKey": "AWS:Reserved", "TagValue": "x"}]}, "TagException"),
        ({"Tags": [{"TagKey": "k" * 129, "TagValue": "x"}]}, "TagException"),
        ({"Tags": [{"TagKey": "k", "TagValue": "v" * 257}]}, "TagException"),
        ({"Tags": [{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}]}, "TagException"),
        ({"Tags": [{"TagKey": f"k{i}", "TagValue": ""} for i in range(51)]}, "TagException"),
        ({"Policy": "{not json"}, "MalformedPolicyDocumentException"),
        ({"Policy": "[1, 2]"}, "MalformedPolicyDocumentException"),
        ({"Description": "d" * 8193}, "ValidationException"),
        ({"KeySpec": "ECC_NIST_P256", "Tags": [{"TagKey": "k", "TagValue": "v"}]}, "ValidationException"),
    ],
)
def test_a_refused_create_key_creates_no_key(aws: Any, members: dict[str, Any], error: str) -> None:
    before = _key_count(aws)
    with pytest.raises(ClientError) as exc:
        aws.create_key(**members)
    assert _code(exc) == error
    assert _key_count(aws) == before


# -- aliases ----------------------------------------------------------------------------------------------
def test_alias_lifecycle_and_listing(aws: Any, client: Client) -> None:
    first, second = _key(aws), _key(aws)
    aws.create_alias(AliasName="alias/app/a", TargetKeyId=first)
    aws.create_alias(AliasName="alias/app/b", TargetKeyId=_arn(client, f"key/{first}"))
    aws.create_alias(AliasName="alias/app/c", TargetKeyId=second)
    with pytest.raises(aws.exceptions.AlreadyExistsException):
        aws.create_alias(AliasName="alias/app/a", TargetKeyId=second)
    listed = aws.list_aliases()
    assert [a["AliasName"] for a in listed["Aliases"]] == ["alias/app/a", "alias/app/b", "alias/app/c"]
    assert listed["Truncated"] is False and "NextMarker" not in listed
    entry = listed["Aliases"][0]
    assert entry["AliasArn"] == _arn(client, "alias/app/a") and entry["TargetKeyId"] == first
    assert entry["CreationDate"].year >= 2024
    assert [a["AliasName"] for a in aws.list_aliases(KeyId=first)["Aliases"]] == ["alias/app/a", "alias/app/b"]
    assert [a["AliasName"] for a in aws.list_aliases(KeyId="alias/app/c")["Aliases"]] == ["alias/app/c"]
    page = aws.list_aliases(Limit=2)
    assert [a["AliasName"] for a in page["Aliases"]] == ["alias/app/a", "alias/app/b"] and page["Truncated"]
    rest = aws.list_aliases(Limit=2, Marker=page["NextMarker"])
    assert [a["AliasName"] for a in rest["Aliases"]] == ["alias/app/c"] and rest["Truncated"] is False
    with pytest.raises(aws.exceptions.InvalidMarkerException):
        aws.list_aliases(Marker="not-a-marker")
    aws.update_alias(AliasName="alias/app/a", TargetKeyId=second)
    assert aws.describe_key(KeyId="alias/app/a")["KeyMetadata"]["KeyId"] == second
    signer = _key(aws, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        aws.update_alias(AliasName="alias/app/a", TargetKeyId=signer)  # another kind of key: AWS refuses
    assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.update_alias(AliasName="alias/app/none", TargetKeyId=second)
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.create_alias(AliasName="alias/app/d", TargetKeyId=MISSING)
    aws.delete_alias(AliasName="alias/app/a")
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.delete_alias(AliasName="alias/app/a")
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.encrypt(KeyId="alias/app/a", Plaintext=b"x")


@pytest.mark.parametrize(
    ("name", "target", "error"),
    [
        ("alias/aws/mine", None, "NotAuthorizedException"),  # reserved for AWS managed keys
        ("mine", None, "ValidationException"),
        ("alias/", None, "ValidationException"),
        ("alias/has space", None, "ValidationException"),
        ("alias/has:colon", None, "ValidationException"),
        ("alias/" + "a" * 251, None, "ValidationException"),  # 257 characters
        ("alias/ok", "alias/target", "ValidationException"),  # an alias names a key, never an alias
    ],
)
def test_alias_names_and_targets_are_checked(aws: Any, name: str, target: str | None, error: str) -> None:
    keyid = _key(aws)
    aws.create_alias(AliasName="alias/target", TargetKeyId=keyid)
    with pytest.raises(ClientError) as exc:
        aws.create_alias(AliasName=name, TargetKeyId=target or keyid)
    assert _code(exc) == error
    assert [a["AliasName"] for a in aws.list_aliases()["Aliases"]] == ["alias/target"]


def test_aliases_are_per_app(aws: Any, server: ServerProcess, other_client: Client) -> None:
    aws.create_alias(AliasName="alias/shared-name", TargetKeyId=_key(aws))
    stranger = kms(server.url, other_client.appid, other_client.apikey)
    assert stranger.list_aliases()["Aliases"] == []
    theirs = _key(stranger)
    stranger.create_alias(AliasName="alias/shared-name", TargetKeyId=theirs)  # another app's namespace
    assert stranger.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["KeyId"] == theirs
    with pytest.raises(stranger.exceptions.NotFoundException):
        stranger.delete_alias(AliasName="alias/other")


# -- tags -------------------------------------------------------------------------------------------------
def test_tag_untag_and_list_resource_tags(aws: Any) -> None:
    keyid = _key(aws)
    aws.tag_resource(KeyId=keyid, Tags=[{"TagKey": f"k{i}", "TagValue": str(i)} for i in range(5)])
    aws.tag_resource(KeyId=keyid, Tags=[{"TagKey": "k0", "TagValue": "new"}])  # replaced, not added
    first = aws.list_resource_tags(KeyId=keyid, Limit=2)
    assert first["Tags"] == [{"TagKey": "k0", "TagValue": "new"}, {"TagKey": "k1", "TagValue": "1"}]
    assert first["Truncated"] is True
    rest = aws.list_resource_tags(KeyId=keyid, Marker=first["NextMarker"])
    assert [t["TagKey"] for t in rest["Tags"]] == ["k2", "k3", "k4"] and rest["Truncated"] is False
    aws.untag_resource(KeyId=keyid, TagKeys=["k1", "k3", "absent"])
    assert [t["TagKey"] for t in aws.list_resource_tags(KeyId=keyid)["Tags"]] == ["k0", "k2", "k4"]
    with pytest.raises(aws.exceptions.TagException):
        aws.tag_resource(KeyId=keyid, Tags=[{"TagKey": "aws:x", "TagValue": "y"}])
    with pytest.raises(aws.exceptions.TagException):  # 3 kept + 48 new: over AWS's 50 per key
        aws.tag_resource(KeyId=keyid, Tags=[{"TagKey": f"n{i}", "TagValue": ""} for i in range(48)])
    assert len(aws.list_resource_tags(KeyId=keyid)["Tags"]) == 3  # nothing written
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.tag_resource(KeyId=MISSING, Tags=[{"TagKey": "a", "TagValue": "b"}])
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.list_resource_tags(KeyId=MISSING)


# -- rotation ---------------------------------------------------------------------------------------------
def test_key_rotation_status_periods_and_on_demand(aws: Any, client: Client) -> None:
    keyid = _key(aws)
    status = aws.get_key_rotation_status(KeyId=keyid)
    assert (status["KeyRotationEnabled"], status["KeyId"]) == (False, _arn(client, f"key/{keyid}"))
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status
    aws.enable_key_rotation(KeyId=keyid)
    status = aws.get_key_rotation_status(KeyId=keyid)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    assert status["NextRotationDate"] > aws.describe_key(KeyId=keyid)["KeyMetadata"]["CreationDate"]
    aws.enable_key_rotation(KeyId=keyid, RotationPeriodInDays=90)
    assert aws.get_key_rotation_status(KeyId=keyid)["RotationPeriodInDays"] == 90
    for days in (89, 2561):
        with pytest.raises(ClientError) as exc:
            aws.enable_key_rotation(KeyId=keyid, RotationPeriodInDays=days)
        assert _code(exc) == "ValidationException"
    aws.disable_key_rotation(KeyId=keyid)
    status = aws.get_key_rotation_status(KeyId=keyid)
    assert status["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in status
    old = aws.encrypt(KeyId=keyid, Plaintext=b"before")["CiphertextBlob"]
    assert aws.list_key_rotations(KeyId=keyid)["Rotations"] == []
    for _ in range(3):
        assert aws.rotate_key_on_demand(KeyId=keyid)["KeyId"] == _arn(client, f"key/{keyid}")
    assert aws.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    page = aws.list_key_rotations(KeyId=keyid, Limit=2)
    assert [r["RotationType"] for r in page["Rotations"]] == ["ON_DEMAND", "ON_DEMAND"] and page["Truncated"]
    assert page["Rotations"][0]["KeyId"] == keyid
    rest = aws.list_key_rotations(KeyId=keyid, Marker=page["NextMarker"])
    assert len(rest["Rotations"]) == 1 and rest["Truncated"] is False
    aws.disable_key(KeyId=keyid)
    with pytest.raises(aws.exceptions.DisabledException):
        aws.enable_key_rotation(KeyId=keyid)
    with pytest.raises(aws.exceptions.DisabledException):
        aws.rotate_key_on_demand(KeyId=keyid)
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.get_key_rotation_status(KeyId=MISSING)


@pytest.mark.parametrize("members", [{"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, {"Origin": "EXTERNAL"}])
def test_keys_that_cannot_rotate_answer_unsupported_operation(aws: Any, client: Client, members: Any) -> None:
    keyid = _key(aws, **members)
    hmac = client.create_key("EH_HMAC")
    operations = ("enable_key_rotation", "disable_key_rotation", "get_key_rotation_status")
    operations += ("rotate_key_on_demand", "list_key_rotations")
    for name in (keyid, hmac):
        for operation in operations:
            if operation == "list_key_rotations" and name == keyid and members.get("Origin") == "EXTERNAL":
                # an imported key rotates on demand to new imported material (test_awskms_byok.py): listed
                assert aws.list_key_rotations(KeyId=name)["Rotations"] == []
                continue
            with pytest.raises(aws.exceptions.UnsupportedOperationException):
                getattr(aws, operation)(KeyId=name)


# -- key policies -----------------------------------------------------------------------------------------
def test_put_key_policy_stores_and_get_key_policy_returns_it(aws: Any, client: Client, other_client: Client) -> None:
    keyid = _key(aws)
    default = json.loads(aws.get_key_policy(KeyId=keyid)["Policy"])
    assert default["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{account_of(client.appid)}:root"}
    policy = json.dumps({"Version": "2012-10-17", "Id": "mine", "Statement": [{"Effect": "Deny"}]})
    aws.put_key_policy(KeyId=keyid, PolicyName="default", Policy=policy)
    got = aws.get_key_policy(KeyId=keyid, PolicyName="default")
    assert (got["Policy"], got["PolicyName"]) == (policy, "default")
    assert aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"]  # stored, never evaluated
    for bad in ("{", '"a string"', "[]", json.dumps({"pad": "x" * 32768})):
        with pytest.raises(aws.exceptions.MalformedPolicyDocumentException):
            aws.put_key_policy(KeyId=keyid, PolicyName="default", Policy=bad)
    assert aws.get_key_policy(KeyId=keyid)["Policy"] == policy  # nothing written
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.put_key_policy(KeyId=keyid, PolicyName="other", Policy=policy)
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.put_key_policy(KeyId=MISSING, PolicyName="default", Policy=policy)
    stranger = kms(aws.meta.endpoint_url, other_client.appid, other_client.apikey)
    with pytest.raises(stranger.exceptions.NotFoundException):
        stranger.get_key_policy(KeyId=keyid, PolicyName="default")


# -- one key, two doors -----------------------------------------------------------------------------------
def test_metadata_is_shared_between_the_doors(aws: Any, client: Client) -> None:
    ehsm_key = client.create_key("EH_AES_GCM_256")
    client.create_alias("alias/from-ehsm", ehsm_key)
    out = aws.encrypt(KeyId="alias/from-ehsm", Plaintext=b"via ehsm alias")
    assert out["KeyId"] == _arn(client, f"key/{ehsm_key}")
    assert client.decrypt(ehsm_key, out["CiphertextBlob"]) == b"via ehsm alias"
    aws_key = _key(aws, Description="made on the AWS door", Tags=[{"TagKey": "door", "TagValue": "aws"}])
    aws.create_alias(AliasName="alias/from-aws", TargetKeyId=aws_key)
    blob = client.encrypt("alias/from-aws", b"via aws alias")
    assert aws.decrypt(CiphertextBlob=blob, KeyId="alias/from-aws")["Plaintext"] == b"via aws alias"
    described = client.describe_key("alias/from-aws")
    assert (described.description, described.tags, described.aliases) == (
        "made on the AWS door",
        {"door": "aws"},
        ["alias/from-aws"],
    )
    client.tag_key(aws_key, {"door": "ehsm"})
    assert aws.list_resource_tags(KeyId=aws_key)["Tags"] == [{"TagKey": "door", "TagValue": "ehsm"}]
    client.schedule_key_deletion(ehsm_key, 7)
    assert aws.describe_key(KeyId="alias/from-ehsm")["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert [a["AliasName"] for a in aws.list_aliases()["Aliases"]] == ["alias/from-aws", "alias/from-ehsm"]


# -- the region setting -----------------------------------------------------------------------------------
def test_arns_carry_the_servers_aws_region_and_the_audit_names_the_real_key(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    args = ("--aws-region", "eu-central-1", "--audit-log", str(audit), *NO_POOL_ARGS)
    proc = ServerProcess(tmp_path / "data", *args).start()
    try:
        with proc.client() as client:
            aws = kms(proc.url, client.appid, client.apikey, region="eu-central-1")
            meta = aws.create_key()["KeyMetadata"]
            assert meta["Arn"] == _arn(client, f"key/{meta['KeyId']}", "eu-central-1")
            aws.create_alias(AliasName="alias/regional", TargetKeyId=meta["KeyId"])
            assert aws.list_aliases()["Aliases"][0]["AliasArn"] == _arn(client, "alias/regional", "eu-central-1")
            assert aws.encrypt(KeyId="alias/regional", Plaintext=b"x")["KeyId"] == meta["Arn"]
            assert aws.list_keys()["Keys"] == [{"KeyId": meta["KeyId"], "KeyArn": meta["Arn"]}]
            aws.describe_key(KeyId=_arn(client, "alias/regional", "eu-central-1"))
        lines = audit_lines_once(audit, lambda e: e.get("action") == "DescribeKey")
        named = [(e["action"], e.get("keyid")) for e in lines if e.get("door") == "aws" and e.get("action")]
        # the audit record names the key an alias resolved to, never the alias
        assert ("Encrypt", meta["KeyId"]) in named and ("DescribeKey", meta["KeyId"]) in named
    finally:
        proc.stop()
