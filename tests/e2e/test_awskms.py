"""The AWS KMS door through boto3 against a real server: every operation it answers and its errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from pyehsm.client import Client
from pyehsm.protocols.awskms.ids import account_of
from tests.support.aws import kms
from tests.support.server import ServerProcess


@pytest.fixture
def aws(server: ServerProcess, client: Client) -> Iterator[Any]:
    yield kms(server.url, client.appid, client.apikey)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _symmetric(aws: Any) -> str:
    return str(aws.create_key()["KeyMetadata"]["KeyId"])


def test_create_key_defaults_and_metadata(aws: Any, client: Client) -> None:
    meta = aws.create_key()["KeyMetadata"]
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Origin"] == "AWS_KMS"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    account = account_of(client.appid)
    assert len(account) == 12 and account.isdigit()
    assert meta["AWSAccountId"] == account
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{account}:key/{meta['KeyId']}"


@pytest.mark.parametrize(
    ("spec", "usage", "algorithms"),
    [
        ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms"),
        ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms"),
        ("SM2", "SIGN_VERIFY", "SigningAlgorithms"),
    ],
)
def test_create_asymmetric_keys(aws: Any, spec: str, usage: str, algorithms: str) -> None:
    meta = aws.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert (meta["KeySpec"], meta["KeyUsage"]) == (spec, usage)
    assert meta[algorithms]


def test_create_key_refusals(aws: Any) -> None:
    with pytest.raises(ClientError) as exc:
        aws.create_key(KeySpec="ECC_NIST_P256")  # the default usage ENCRYPT_DECRYPT does not fit EC keys
    assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.create_key(Origin="AWS_CLOUDHSM")
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.create_key(MultiRegion=True)
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.create_key(CustomKeyStoreId="cks-1234567890abcdef0")
    with pytest.raises(ClientError) as exc:
        aws.create_key(KeySpec="NOT_A_SPEC")
    assert _code(exc) == "ValidationException"


def test_list_keys_pages(aws: Any) -> None:
    made = [_symmetric(aws) for _ in range(3)]
    first = aws.list_keys(Limit=2)
    assert first["Truncated"] is True and len(first["Keys"]) == 2
    rest = aws.list_keys(Limit=2, Marker=first["NextMarker"])
    assert rest["Truncated"] is False
    assert [k["KeyId"] for k in first["Keys"] + rest["Keys"]] == made
    paged = [k["KeyId"] for page in aws.get_paginator("list_keys").paginate(Limit=1) for k in page["Keys"]]
    assert paged == made
    # the marker is a position in creation order, not an offset: a key made since lands on a later page
    later = _symmetric(aws)
    after = aws.list_keys(Limit=5, Marker=first["NextMarker"])
    assert [k["KeyId"] for k in after["Keys"]] == [made[2], later]


def test_encrypt_decrypt_with_and_without_key_id(aws: Any) -> None:
    keyid = _symmetric(aws)
    out = aws.encrypt(KeyId=keyid, Plaintext=b"hello aws")
    assert out["KeyId"].endswith(f":key/{keyid}") and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    back = aws.decrypt(CiphertextBlob=blob)  # the blob names its key
    assert back["Plaintext"] == b"hello aws" and back["KeyId"] == out["KeyId"]
    assert aws.decrypt(CiphertextBlob=blob, KeyId=out["KeyId"])["Plaintext"] == b"hello aws"  # by ARN


def test_encryption_context_is_aad(aws: Any) -> None:
    keyid = _symmetric(aws)
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"x", EncryptionContext={"b": "2", "a": "1"})["CiphertextBlob"]
    assert aws.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "2"})["Plaintext"] == b"x"
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "3"})
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(CiphertextBlob=blob)


def test_decrypt_errors(aws: Any) -> None:
    keyid, other = _symmetric(aws), _symmetric(aws)
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(aws.exceptions.IncorrectKeyException):
        aws.decrypt(CiphertextBlob=blob, KeyId=other)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(CiphertextBlob=bytes(tampered))
    with pytest.raises(aws.exceptions.IncorrectKeyException):  # a keyed blob naming another key
        aws.decrypt(CiphertextBlob=b"\xe2" + b"\x00" * 40, KeyId=keyid)
    with pytest.raises(aws.exceptions.InvalidCiphertextException):  # not a pyehsm ciphertext at all
        aws.decrypt(CiphertextBlob=b"\x00" * 40, KeyId=keyid)
    with pytest.raises(ClientError) as exc:
        aws.decrypt(CiphertextBlob=b"\xe1\x01\x00\x00\x00\x01" + b"\x00" * 40)  # names no key
    assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.InvalidCiphertextException):  # garbage without KeyId: AWS's answer
        aws.decrypt(CiphertextBlob=b"\x00" * 40)


def test_key_id_errors(aws: Any, other_client: Client, server: ServerProcess) -> None:
    keyid = _symmetric(aws)
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.encrypt(KeyId="00000000-0000-4000-8000-000000000000", Plaintext=b"x")
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.encrypt(KeyId="not-a-key", Plaintext=b"x")
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.encrypt(KeyId=f"arn:aws:kms:us-east-1:000000000000:key/{keyid}", Plaintext=b"x")  # another account
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.encrypt(KeyId="alias/missing", Plaintext=b"x")
    stranger = kms(server.url, other_client.appid, other_client.apikey)
    with pytest.raises(stranger.exceptions.NotFoundException):  # tenancy: another app's key does not exist
        stranger.encrypt(KeyId=keyid, Plaintext=b"x")
    # any region in the ARN names the same key
    arn = f"arn:aws:kms:eu-west-3:{account_of(aws._request_signer._credentials.access_key)}:key/{keyid}"
    assert aws.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]


def test_validation_errors(aws: Any) -> None:
    keyid = _symmetric(aws)
    with pytest.raises(ClientError) as exc:
        aws.encrypt(KeyId=keyid, Plaintext=b"x" * 4097)
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key(KeyId=keyid)
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key(KeyId=keyid, KeySpec="AES_256", NumberOfBytes=32)
    assert _code(exc) == "ValidationException"


def test_enable_disable(aws: Any) -> None:
    keyid = _symmetric(aws)
    aws.disable_key(KeyId=keyid)
    with pytest.raises(aws.exceptions.DisabledException):
        aws.encrypt(KeyId=keyid, Plaintext=b"x")
    assert aws.list_keys()["Keys"][0]["KeyId"] == keyid
    aws.enable_key(KeyId=keyid)
    assert aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.disable_key(KeyId="00000000-0000-4000-8000-000000000000")


def test_generate_data_key(aws: Any) -> None:
    keyid = _symmetric(aws)
    out = aws.generate_data_key(KeyId=keyid, KeySpec="AES_256", EncryptionContext={"purpose": "test"})
    assert len(out["Plaintext"]) == 32
    back = aws.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"purpose": "test"})
    assert back["Plaintext"] == out["Plaintext"]
    short = aws.generate_data_key(KeyId=keyid, NumberOfBytes=7)
    assert len(short["Plaintext"]) == 7
    bare = aws.generate_data_key_without_plaintext(KeyId=keyid, KeySpec="AES_128")
    assert "Plaintext" not in bare
    assert len(aws.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ],
)
def test_sign_verify_raw_and_digest_checked_by_cryptography(aws: Any, spec: str, algorithm: str) -> None:
    keyid = aws.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(aws.get_public_key(KeyId=keyid)["PublicKey"])
    digest_name = algorithm.rsplit("_", 1)[1]
    hash_alg = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[digest_name]
    message = b"message to sign"
    digest = hashlib.new(hash_alg.name, message).digest()
    for msg, kind in ((message, "RAW"), (digest, "DIGEST")):
        out = aws.sign(KeyId=keyid, Message=msg, MessageType=kind, SigningAlgorithm=algorithm)
        assert out["SigningAlgorithm"] == algorithm
        sig = out["Signature"]
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, message, ec.ECDSA(hash_alg))
        else:
            assert isinstance(public, rsa.RSAPublicKey)
            pad = (
                padding.PSS(padding.MGF1(hash_alg), padding.PSS.DIGEST_LENGTH)
                if "PSS" in algorithm
                else padding.PKCS1v15()
            )
            public.verify(sig, message, pad, hash_alg)
        ok = aws.verify(KeyId=keyid, Message=msg, MessageType=kind, Signature=sig, SigningAlgorithm=algorithm)
        assert ok["SignatureValid"] is True
    with pytest.raises(aws.exceptions.KMSInvalidSignatureException):
        aws.verify(KeyId=keyid, Message=b"other", Signature=sig, SigningAlgorithm=algorithm)


def test_sign_refusals(aws: Any) -> None:
    keyid = aws.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(aws.exceptions.InvalidKeyUsageException):
        aws.sign(KeyId=keyid, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    with pytest.raises(ClientError) as exc:
        aws.sign(KeyId=keyid, Message=b"short", MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    assert _code(exc) == "ValidationException"
    with pytest.raises(aws.exceptions.InvalidKeyUsageException):
        aws.encrypt(KeyId=keyid, Plaintext=b"x")
    symmetric = _symmetric(aws)
    with pytest.raises(aws.exceptions.InvalidKeyUsageException):
        aws.sign(KeyId=symmetric, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.get_public_key(KeyId=symmetric)


def test_ed25519_keys_sign_raw_messages_checked_by_cryptography(aws: Any) -> None:
    made = aws.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (made["KeySpec"], made["SigningAlgorithms"]) == ("ECC_NIST_EDWARDS25519", ["ED25519_SHA_512"])
    keyid = made["KeyId"]
    signature = aws.sign(KeyId=keyid, Message=b"pure eddsa", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    public = serialization.load_der_public_key(aws.get_public_key(KeyId=keyid)["PublicKey"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(signature, b"pure eddsa")  # raises if invalid
    assert aws.verify(KeyId=keyid, Message=b"pure eddsa", Signature=signature, SigningAlgorithm="ED25519_SHA_512")[
        "SignatureValid"
    ]
    with pytest.raises(aws.exceptions.KMSInvalidSignatureException):
        aws.verify(KeyId=keyid, Message=b"other", Signature=signature, SigningAlgorithm="ED25519_SHA_512")
    with pytest.raises(aws.exceptions.InvalidKeyUsageException):  # Ed25519ph is not offered
        aws.sign(KeyId=keyid, Message=b"m", SigningAlgorithm="ED25519_PH_SHA_512")
    with pytest.raises(ClientError):  # PureEdDSA signs the message itself, never a digest
        aws.sign(
            KeyId=keyid, Message=hashlib.sha512(b"m").digest(), MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512"
        )


def test_get_public_key_and_rsa_encryption(aws: Any) -> None:
    keyid = aws.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    out = aws.get_public_key(KeyId=keyid)
    assert out["KeySpec"] == "RSA_2048" and out["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert out["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    ct = public.encrypt(b"to the key", oaep)
    back = aws.decrypt(KeyId=keyid, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert back["Plaintext"] == b"to the key"
    made = aws.encrypt(KeyId=keyid, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert aws.decrypt(KeyId=keyid, CiphertextBlob=made, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"p"
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(KeyId=keyid, CiphertextBlob=b"\x00" * 256, EncryptionAlgorithm="RSAES_OAEP_SHA_256")


def test_import_key_material(aws: Any) -> None:
    keyid = aws.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(aws.exceptions.KMSInvalidStateException):
        aws.encrypt(KeyId=keyid, Plaintext=b"x")
    params = aws.get_parameters_for_import(
        KeyId=keyid, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(wrapping, rsa.RSAPublicKey)
    material = bytes(range(32))
    wrapped = wrapping.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    with pytest.raises(aws.exceptions.InvalidImportTokenException):
        aws.import_key_material(
            KeyId=keyid,
            ImportToken=b"\x09junk",
            EncryptedKeyMaterial=wrapped,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    aws.import_key_material(
        KeyId=keyid,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"imported")["CiphertextBlob"]
    assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    other = _symmetric(aws)
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.get_parameters_for_import(KeyId=other, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")


def test_grants_and_unsupported_operations(aws: Any) -> None:
    keyid = _symmetric(aws)
    assert aws.list_grants(KeyId=keyid)["Grants"] == []
    assert aws.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111122223333:role/x")["Grants"] == []
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.list_grants(KeyId="00000000-0000-4000-8000-000000000000")
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.create_grant(KeyId=keyid, GranteePrincipal="arn:aws:iam::111122223333:role/x", Operations=["Decrypt"])
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.connect_custom_key_store(CustomKeyStoreId="cks-1234567890abcdef0")
    with pytest.raises(aws.exceptions.UnsupportedOperationException):
        aws.replicate_key(KeyId=keyid, ReplicaRegion="eu-west-1")


def test_key_policies_default(aws: Any, client: Client) -> None:
    keyid = _symmetric(aws)
    assert aws.list_key_policies(KeyId=keyid)["PolicyNames"] == ["default"]
    policy = json.loads(aws.get_key_policy(KeyId=keyid, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{account_of(client.appid)}:root"}
    assert json.loads(aws.get_key_policy(KeyId=keyid)["Policy"]) == policy  # PolicyName defaults to default
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.get_key_policy(KeyId=keyid, PolicyName="other")
    with pytest.raises(aws.exceptions.NotFoundException):
        aws.list_key_policies(KeyId="00000000-0000-4000-8000-000000000000")


def test_ehsm_door_refuses_a_keyed_blob_under_another_key(aws: Any, client: Client) -> None:
    keyid, other = _symmetric(aws), _symmetric(aws)
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"]
    assert client.decrypt(keyid, blob) == b"x"
    with pytest.raises(Exception, match="Decrypt failed"):
        client.decrypt(other, blob)


def test_one_key_on_both_doors(aws: Any, client: Client) -> None:
    ehsm_key = client.create_key("EH_AES_GCM_256")
    plain = client.encrypt(ehsm_key, b"from ehsm")
    assert aws.decrypt(KeyId=ehsm_key, CiphertextBlob=plain)["Plaintext"] == b"from ehsm"
    aws_key = _symmetric(aws)
    context = {"tenant": "t1", "app": "a"}
    aws_ct = aws.encrypt(KeyId=aws_key, Plaintext=b"from aws", EncryptionContext=context)["CiphertextBlob"]
    aad = json.dumps(context, sort_keys=True, separators=(",", ":")).encode()
    assert client.decrypt(aws_key, aws_ct, aad=aad) == b"from aws"
    assert client.decrypt(ehsm_key, client.encrypt(ehsm_key, b"z", aad=aad), aad=aad) == b"z"
    back = aws.decrypt(
        KeyId=ehsm_key, CiphertextBlob=client.encrypt(ehsm_key, b"z", aad=aad), EncryptionContext=context
    )
    assert back["Plaintext"] == b"z"
    aws.disable_key(KeyId=ehsm_key)
    with pytest.raises(Exception, match="disabled"):
        client.encrypt(ehsm_key, b"x")
    keyed = bytearray(aws_ct)
    keyed[0] = 0xE1  # the keyed form's magic is what tells the key: a blob without it names none
    with pytest.raises(ClientError):
        aws.decrypt(CiphertextBlob=bytes(keyed), EncryptionContext=context)


def test_key_metadata_and_rotation_refusals_answer_with_aws_exception_names(aws: Any, client: Client) -> None:
    # errors of the key-metadata and key-version services reach this door through its error table
    pending = client.create_key("EH_AES_GCM_256")
    client.schedule_key_deletion(pending, 7)
    with pytest.raises(ClientError) as refused:
        aws.encrypt(KeyId=pending, Plaintext=b"x")
    assert _code(refused) == "KMSInvalidStateException"
    keyid = client.create_key("EH_AES_GCM_256")
    retired = bytes(aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"])
    client.rotate_key(keyid)
    client.update_key_version_policy(keyid, 2)
    with pytest.raises(ClientError) as refused:
        aws.decrypt(KeyId=keyid, CiphertextBlob=retired)
    assert _code(refused) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as refused:
        aws.encrypt(KeyId="alias/never-made", Plaintext=b"x")
    assert _code(refused) == "NotFoundException"
