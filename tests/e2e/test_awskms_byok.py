"""AWS door BYOK beyond the first import, with boto3 and `cryptography` wrapping client-side: ImportType
NEW_KEY_MATERIAL (rotation of a key with imported material), expiring material (ExpirationModel and ValidTo,
driven by an injected clock), DeleteImportedKeyMaterial and re-import of the same material, the SHA-1
wrapping algorithms; and ML-DSA keys signing RAW and EXTERNAL_MU messages."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from pyehsm.client import Client
from pyehsm.client.errors import EhsmApiError
from pyehsm.clock import DAY_MS, ManualClock
from tests.support.aws import kms
from tests.support.server import InProcessServer

OAEP_256 = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
OAEP_1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)


@pytest.fixture
def aws(manual_server: InProcessServer, manual_client: Client) -> Iterator[Any]:
    yield kms(manual_server.url, manual_client.appid, manual_client.apikey)


def wrapped(aws: Any, keyid: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256") -> tuple[bytes, bytes]:
    """(ImportToken, EncryptedKeyMaterial) for ``material``, wrapped as a client does for ``algorithm``."""
    params = aws.get_parameters_for_import(KeyId=keyid, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072")
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = OAEP_1 if algorithm.endswith("SHA_1") else OAEP_256
    if algorithm.startswith("RSAES_OAEP"):
        return params["ImportToken"], public.encrypt(material, oaep)
    kek = os.urandom(32)
    return params["ImportToken"], public.encrypt(kek, oaep) + aes_key_wrap_with_padding(kek, material)


def import_material(aws: Any, keyid: str, material: bytes, **extra: Any) -> dict[str, Any]:
    token, encrypted = wrapped(aws, keyid, material)
    answer: dict[str, Any] = aws.import_key_material(
        KeyId=keyid, ImportToken=token, EncryptedKeyMaterial=encrypted, **extra
    )
    return answer


def external_key(aws: Any) -> str:
    keyid: str = aws.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    return keyid


def raises(aws: Any, name: str, call: Callable[[], object]) -> str:
    """``call`` fails with AWS's exception ``name`` (ValidationException has no modeled class: its code)."""
    with pytest.raises(aws.exceptions.ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] == name, info.value
    return str(info.value)


def test_new_key_material_waits_for_rotate_then_every_version_decrypts(aws: Any, manual_client: Client) -> None:
    keyid = external_key(aws)
    first, second = os.urandom(32), os.urandom(32)
    material_a = import_material(aws, keyid, first)["KeyMaterialId"]
    assert len(material_a) == 64
    old = aws.encrypt(KeyId=keyid, Plaintext=b"v1")["CiphertextBlob"]

    # Without ImportType, a key with material takes back only the material it has (EXISTING_KEY_MATERIAL)
    raises(aws, "IncorrectKeyMaterialException", lambda: import_material(aws, keyid, second))
    # NEW_KEY_MATERIAL must be new
    raises(
        aws, "IncorrectKeyMaterialException", lambda: import_material(aws, keyid, first, ImportType="NEW_KEY_MATERIAL")
    )
    material_b = import_material(aws, keyid, second, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert material_b != material_a
    # one new material at a time: it waits for RotateKeyOnDemand (the eHSM door's RotateKey: one key, two doors)
    raises(
        aws,
        "KMSInvalidStateException",
        lambda: import_material(aws, keyid, os.urandom(32), ImportType="NEW_KEY_MATERIAL"),
    )
    waiting = aws.encrypt(KeyId=keyid, Plaintext=b"still v1")["CiphertextBlob"]
    versions = manual_client.call("ListKeyRotations", {"keyid": keyid})["versions"]
    assert [(v["version"], v["rotationType"], v["state"], v["primary"]) for v in versions] == [
        (1, "Created", "Enabled", True),
        (2, "Imported", "PendingRotation", False),
    ]

    assert manual_client.call("RotateKey", {"keyid": keyid})["version"] == 2
    new = aws.encrypt(KeyId=keyid, Plaintext=b"v2")["CiphertextBlob"]
    assert new != old
    for blob, text in ((old, b"v1"), (waiting, b"still v1"), (new, b"v2")):
        assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == text
    with pytest.raises(EhsmApiError, match="rotated by importing new key material"):
        manual_client.call("RotateKey", {"keyid": keyid})  # nothing waits: refused, with the way to rotate


def test_rotate_key_on_demand_promotes_new_key_material(aws: Any) -> None:
    """The AWS-only path: NEW_KEY_MATERIAL, then RotateKeyOnDemand; ListKeyRotations lists the rotation once
    it happened (not while the material waits), and an imported key never rotates without new material."""
    keyid = external_key(aws)
    import_material(aws, keyid, os.urandom(32))
    old = aws.encrypt(KeyId=keyid, Plaintext=b"v1")["CiphertextBlob"]
    raises(aws, "UnsupportedOperationException", lambda: aws.rotate_key_on_demand(KeyId=keyid))
    import_material(aws, keyid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    assert aws.list_key_rotations(KeyId=keyid)["Rotations"] == []  # waiting is no rotation yet
    assert aws.rotate_key_on_demand(KeyId=keyid)["KeyId"].endswith(keyid)
    rotations = aws.list_key_rotations(KeyId=keyid)["Rotations"]
    assert [(r["KeyId"], r["RotationType"]) for r in rotations] == [(keyid, "ON_DEMAND")]
    new = aws.encrypt(KeyId=keyid, Plaintext=b"v2")["CiphertextBlob"]
    assert aws.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    assert aws.decrypt(CiphertextBlob=new)["Plaintext"] == b"v2"
    raises(aws, "UnsupportedOperationException", lambda: aws.rotate_key_on_demand(KeyId=keyid))


def test_sha1_wrapping_algorithms(aws: Any) -> None:
    for algorithm in ("RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_1"):
        keyid = external_key(aws)
        token, encrypted = wrapped(aws, keyid, os.urandom(32), algorithm)
        aws.import_key_material(
            KeyId=keyid,
            ImportToken=token,
            EncryptedKeyMaterial=encrypted,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
        blob = aws.encrypt(KeyId=keyid, Plaintext=algorithm.encode())["CiphertextBlob"]
        assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == algorithm.encode()
    # SHA-256 OAEP under a SHA-1 token does not unwrap (the token names its algorithm)
    keyid = external_key(aws)
    token, _ = wrapped(aws, keyid, b"", "RSAES_OAEP_SHA_1")
    params = aws.get_parameters_for_import(
        KeyId=keyid, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    raises(
        aws,
        "InvalidCiphertextException",
        lambda: aws.import_key_material(
            KeyId=keyid,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=public.encrypt(os.urandom(32), OAEP_256),
        ),
    )


def test_expiring_material_returns_the_key_to_pending_import(
    aws: Any, manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    keyid = external_key(aws)
    material = os.urandom(32)
    real_now = clock.now_ms()
    valid_to = (real_now + DAY_MS) / 1000
    for bad in (
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES"},  # no ValidTo
        {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": valid_to},
        {"ValidTo": (real_now - 1000) / 1000},  # past
        {"ValidTo": (real_now + 366 * DAY_MS) / 1000},  # beyond 365 days
    ):
        raises(aws, "ValidationException", lambda bad=bad: import_material(aws, keyid, material, **bad))  # type: ignore[misc]
    import_material(aws, keyid, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    blob = manual_client.encrypt(keyid, b"before expiry")
    assert manual_client.decrypt(keyid, blob) == b"before expiry"

    clock.advance(days=1)  # ValidTo reached: listed and refused as PendingImport at once, before any sweep
    listed = [k for k in manual_client.call("ListKey", {})["list"] if k["keyid"] == keyid]
    assert [(k["state"], k["keyState"]) for k in listed] == [("PendingImport", 0)]
    with pytest.raises(EhsmApiError, match="not been imported"):
        manual_client.decrypt(keyid, blob)
    clock.set(real_now)  # boto3 signs with the real time: bring the server back to it
    raises(aws, "KMSInvalidStateException", lambda: aws.encrypt(KeyId=keyid, Plaintext=b"x"))
    raises(aws, "IncorrectKeyMaterialException", lambda: import_material(aws, keyid, os.urandom(32)))
    import_material(aws, keyid, material)  # the same material, no expiry this time
    assert manual_client.decrypt(keyid, blob) == b"before expiry"


def test_expiry_sweep_and_delete_imported_key_material(
    aws: Any, manual_server: InProcessServer, clock: ManualClock
) -> None:
    services = manual_server.runtime.services
    keyid = external_key(aws)
    material = os.urandom(32)
    material_id = import_material(aws, keyid, material, ValidTo=(clock.now_ms() + 1000) / 1000)["KeyMaterialId"]
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"x")["CiphertextBlob"]
    clock.advance(ms=1000)
    assert run(manual_server, services.byok.expire_material_once()) == 1  # the sweep: exactly once
    assert run(manual_server, services.byok.expire_material_once()) == 0
    clock.advance(ms=-1000)
    raises(aws, "KMSInvalidStateException", lambda: aws.decrypt(CiphertextBlob=blob))
    raises(aws, "KMSInvalidStateException", lambda: aws.delete_imported_key_material(KeyId=keyid))  # nothing to delete
    assert import_material(aws, keyid, material)["KeyMaterialId"] == material_id

    raises(
        aws,
        "IncorrectKeyMaterialException",
        lambda: aws.delete_imported_key_material(KeyId=keyid, KeyMaterialId="0" * 64),
    )
    deleted = aws.delete_imported_key_material(KeyId=keyid, KeyMaterialId=material_id)
    assert deleted["KeyMaterialId"] == material_id and deleted["KeyId"].endswith(keyid)
    raises(aws, "KMSInvalidStateException", lambda: aws.decrypt(CiphertextBlob=blob))
    assert import_material(aws, keyid, material, KeyMaterialId=material_id)["KeyMaterialId"] == material_id
    assert aws.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"

    internal = aws.create_key()["KeyMetadata"]["KeyId"]
    raises(aws, "UnsupportedOperationException", lambda: aws.delete_imported_key_material(KeyId=internal))
    raises(
        aws, "NotFoundException", lambda: aws.delete_imported_key_material(KeyId="00000000-0000-4000-8000-000000000000")
    )


def run(server: InProcessServer, coro: Any) -> Any:
    task = next(t for t in server.runtime.tasks if not t.done())
    return asyncio.run_coroutine_threadsafe(coro, task.get_loop()).result(timeout=60)


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_raw_and_external_mu(aws: Any, spec: str) -> None:
    meta = aws.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (meta["KeySpec"], meta["SigningAlgorithms"]) == (spec, ["ML_DSA_SHAKE_256"])
    keyid = meta["KeyId"]
    public = serialization.load_der_public_key(aws.get_public_key(KeyId=keyid)["PublicKey"])
    assert isinstance(public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey)
    message = b"a message signed by AWS KMS's ML-DSA"
    raw = aws.sign(KeyId=keyid, Message=message, MessageType="RAW", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    public.verify(raw, message)
    # FIPS 204 Algorithm 7 line 6: mu = SHAKE256(SHAKE256(pk, 64) || 0 || len(ctx) || ctx || message, 64)
    tr = hashlib.shake_256(public.public_bytes_raw()).digest(64)
    mu = hashlib.shake_256(tr + b"\x00\x00" + message).digest(64)
    signed = aws.sign(KeyId=keyid, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    public.verify(signed["Signature"], message)  # the same pure ML-DSA signature as RAW's
    for kind, data in (("EXTERNAL_MU", mu), ("RAW", message)):
        assert aws.verify(
            KeyId=keyid, Message=data, MessageType=kind, Signature=raw, SigningAlgorithm="ML_DSA_SHAKE_256"
        )["SignatureValid"]
    raises(
        aws,
        "ValidationException",
        lambda: aws.sign(KeyId=keyid, Message=mu[:32], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256"),
    )
    raises(
        aws,
        "ValidationException",
        lambda: aws.sign(KeyId=keyid, Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256"),
    )
    raises(
        aws,
        "InvalidKeyUsageException",
        lambda: aws.sign(KeyId=keyid, Message=message, SigningAlgorithm="ECDSA_SHA_256"),
    )
    ec_key = aws.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    raises(
        aws,
        "ValidationException",
        lambda: aws.sign(KeyId=ec_key, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256"),
    )
