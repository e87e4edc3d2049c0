"""Real AWS clients other than boto3 against the AWS KMS door: the AWS CLI and the AWS Encryption SDK.
Credentials reach them the standard way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --endpoint-url or
AWS_ENDPOINT_URL_KMS)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

from pyehsm.client import Client
from tests.support.aws import kms
from tests.support.server import ServerProcess


def _env(client: Client, server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": client.appid,
        "AWS_SECRET_ACCESS_KEY": client.apikey,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_KMS": server.url,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_MAX_ATTEMPTS": "1",
    }


def _aws_cli() -> list[str]:
    exe = Path(sys.executable).with_name("aws")
    return [sys.executable, str(exe)] if exe.exists() else [shutil.which("aws") or "aws"]


def _cli(env: dict[str, str], server: ServerProcess, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [*_aws_cli(), "kms", *args, "--endpoint-url", server.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli_create_encrypt_decrypt_sign(server: ServerProcess, client: Client, tmp_path: Path) -> None:
    env = _env(client, server, tmp_path)
    keyid = str(_cli(env, server, "create-key")["KeyMetadata"]["KeyId"])  # type: ignore[index]
    secret = tmp_path / "plain.bin"
    secret.write_bytes(os.urandom(300))
    out = _cli(env, server, "encrypt", "--key-id", keyid, "--plaintext", f"fileb://{secret}")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(str(out["CiphertextBlob"])))
    back = _cli(env, server, "decrypt", "--ciphertext-blob", f"fileb://{blob}")
    assert base64.b64decode(str(back["Plaintext"])) == secret.read_bytes()
    assert str(back["KeyId"]).endswith(keyid)
    signer = _cli(env, server, "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY")
    sign_id = str(signer["KeyMetadata"]["KeyId"])  # type: ignore[index]
    sig = _cli(
        env,
        server,
        "sign",
        "--key-id",
        sign_id,
        "--message",
        f"fileb://{secret}",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    sig_file = tmp_path / "sig.bin"
    sig_file.write_bytes(base64.b64decode(str(sig["Signature"])))
    ok = _cli(
        env,
        server,
        "verify",
        "--key-id",
        sign_id,
        "--message",
        f"fileb://{secret}",
        "--signature",
        f"fileb://{sig_file}",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    assert ok["SignatureValid"] is True
    listed = _cli(env, server, "list-keys")
    assert {k["KeyId"] for k in listed["Keys"]} == {keyid, sign_id}  # type: ignore[union-attr,index]


def test_aws_cli_aliases_describe_key_and_key_metadata(server: ServerProcess, client: Client, tmp_path: Path) -> None:
    env = _env(client, server, tmp_path)
    created = _cli(env, server, "create-key", "--description", "cli key", "--tags", "TagKey=env,TagValue=ci")
    keyid = str(created["KeyMetadata"]["KeyId"])  # type: ignore[index]
    _cli(env, server, "create-alias", "--alias-name", "alias/cli", "--target-key-id", keyid)
    aliases = _cli(env, server, "list-aliases")["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [("alias/cli", keyid)]  # type: ignore[union-attr,index]
    assert aliases[0]["AliasArn"].endswith(":alias/cli")  # type: ignore[index]
    meta = _cli(env, server, "describe-key", "--key-id", "alias/cli")["KeyMetadata"]
    assert (meta["KeyId"], meta["Description"], meta["KeyState"]) == (keyid, "cli key", "Enabled")  # type: ignore[index]
    tags = _cli(env, server, "list-resource-tags", "--key-id", keyid)["Tags"]
    assert tags == [{"TagKey": "env", "TagValue": "ci"}]
    _cli(env, server, "enable-key-rotation", "--key-id", "alias/cli", "--rotation-period-in-days", "180")
    status = _cli(env, server, "get-key-rotation-status", "--key-id", keyid)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 180)
    deletion = _cli(env, server, "schedule-key-deletion", "--key-id", keyid, "--pending-window-in-days", "7")
    assert deletion["KeyState"] == "PendingDeletion"


def test_aws_cli_wrong_secret_fails(server: ServerProcess, client: Client, tmp_path: Path) -> None:
    env = {**_env(client, server, tmp_path), "AWS_SECRET_ACCESS_KEY": "wrong"}
    done = subprocess.run(
        [*_aws_cli(), "kms", "list-keys", "--endpoint-url", server.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "InvalidSignatureException" in done.stderr


def test_encryption_sdk_round_trip_of_several_megabytes(
    server: ServerProcess, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _env(client, server, tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    arn = kms(server.url, client.appid, client.apikey).create_key()["KeyMetadata"]["Arn"]
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=botocore.session.Session()
    )
    sdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    data = os.urandom(5 * 1024 * 1024)
    context = {"purpose": "test", "tenant": "t1"}
    ciphertext, header = sdk.encrypt(source=data, key_provider=provider, encryption_context=context)
    assert ciphertext != data and len(header.encrypted_data_keys) == 1
    plaintext, decrypted_header = sdk.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == data
    assert decrypted_header.encryption_context["tenant"] == "t1"
    # the data key's ciphertext is bound to the context: a changed one fails at KMS (InvalidCiphertextException)
    edk = next(iter(header.encrypted_data_keys))
    aws = kms(server.url, client.appid, client.apikey)
    full = dict(header.encryption_context)  # what the SDK sent: the caller's context and its own entries
    assert len(aws.decrypt(KeyId=arn, CiphertextBlob=edk.encrypted_data_key, EncryptionContext=full)["Plaintext"]) == 32
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(KeyId=arn, CiphertextBlob=edk.encrypted_data_key, EncryptionContext={**full, "tenant": "t2"})
    other_arn = aws.create_key()["KeyMetadata"]["Arn"]
    other = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[other_arn], botocore_session=botocore.session.Session()
    )
    with pytest.raises(AWSEncryptionSDKClientError):
        sdk.decrypt(source=ciphertext, key_provider=other)


def _encryption_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("aws-encryption-cli")
    command = [str(exe)] if exe.exists() else [shutil.which("aws-encryption-cli") or "aws-encryption-cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_encryption_sdk_cli_round_trip_of_several_megabytes(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    """`aws-encryption-cli` has no endpoint option: botocore's AWS_ENDPOINT_URL_KMS points its KMS client at
    pyehsm, with the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    env = _env(client, server, tmp_path)
    aws = kms(server.url, client.appid, client.apikey)
    arn = aws.create_key()["KeyMetadata"]["Arn"]
    plain, sealed, opened = tmp_path / "plain.bin", tmp_path / "sealed.bin", tmp_path / "opened.bin"
    plain.write_bytes(os.urandom(4 * 1024 * 1024 + 123))
    policy = ("--commitment-policy", "require-encrypt-require-decrypt")
    done = _encryption_cli(
        env,
        "--encrypt",
        "--input",
        str(plain),
        "--output",
        str(sealed),
        "--wrapping-keys",
        f"key={arn}",
        "--encryption-context",
        "purpose=cli-test",
        "--metadata-output",
        str(tmp_path / "encrypt.json"),
        *policy,
    )
    assert done.returncode == 0, done.stderr
    assert sealed.stat().st_size > plain.stat().st_size and plain.read_bytes()[:4096] not in sealed.read_bytes()
    done = _encryption_cli(
        env,
        "--decrypt",
        "--input",
        str(sealed),
        "--output",
        str(opened),
        "--wrapping-keys",
        f"key={arn}",
        "--encryption-context",
        "purpose=cli-test",  # on decrypt: required to be in the message's context
        "--metadata-output",
        str(tmp_path / "decrypt.json"),
        "--max-encrypted-data-keys",
        "1",
        *policy,
    )
    assert done.returncode == 0, done.stderr
    assert opened.read_bytes() == plain.read_bytes()
    header = json.loads((tmp_path / "decrypt.json").read_text().splitlines()[0])["header"]
    assert header["encryption_context"]["purpose"] == "cli-test"
    infos = [base64.b64decode(key["key_provider"]["key_info"]).decode() for key in header["encrypted_data_keys"]]
    assert infos == [arn]  # one data key, wrapped by pyehsm under that key
    # another key of the same app cannot open it (StrictAwsKmsMasterKeyProvider with only that key)
    other = aws.create_key()["KeyMetadata"]["Arn"]
    refused = tmp_path / "refused.bin"
    done = _encryption_cli(
        env,
        "--decrypt",
        "--input",
        str(sealed),
        "--output",
        str(refused),
        "--wrapping-keys",
        f"key={other}",
        "-S",
        *policy,
    )
    assert done.returncode != 0 and not (refused.exists() and refused.stat().st_size)
