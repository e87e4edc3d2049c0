"""Encryption on the AWS door: Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext)."""

from __future__ import annotations

from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, validation
from pyehsm.protocols.awskms.ops.context import MAX_CIPHERTEXT, MAX_PLAINTEXT, Ctx, refuse_if_set

MAX_DATA_KEY_BYTES = 1024
DATA_KEY_SPECS = {"AES_128": 16, "AES_256": 32}


def _encryption_algorithm(req: f.Request) -> str:
    name = f.choice(req, "EncryptionAlgorithm", k.ALL_ENCRYPTION, k.SYMMETRIC_DEFAULT)
    assert name is not None
    if name != k.SYMMETRIC_DEFAULT and req.get("EncryptionContext"):
        raise validation("EncryptionContext is not supported with asymmetric encryption algorithms.")
    return name


async def check_algorithm_fits(ctx: Ctx, keyid: str, algorithm: str) -> None:
    """An asymmetric EncryptionAlgorithm must be one of the key's (RSAES_* for RSA, SM2PKE for SM2): else
    InvalidKeyUsageException, as on AWS. Symmetric keys refuse asymmetric algorithms in the service."""
    if algorithm == k.SYMMETRIC_DEFAULT:
        return
    record = await ctx.services.keys.get(ctx.appid, keyid)
    allowed = k.encryption_algorithms(record.keyspec)
    if k.SYMMETRIC_DEFAULT not in allowed and algorithm not in allowed:
        raise AwsError("InvalidKeyUsageException", f"EncryptionAlgorithm {algorithm} is not valid for this key.")


async def encrypt(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    plaintext = f.required_blob(req, "Plaintext", MAX_PLAINTEXT)
    algorithm = _encryption_algorithm(req)
    aad = f.encryption_context(req)
    if algorithm == k.SYMMETRIC_DEFAULT:
        ct = await ctx.services.symmetric.encrypt_keyed(ctx.appid, keyid, plaintext, aad)
    else:
        await check_algorithm_fits(ctx, keyid, algorithm)
        ct = await ctx.services.asymmetric.encrypt(ctx.appid, keyid, plaintext, k.ASYMMETRIC_ENCRYPTION[algorithm])
    return {"CiphertextBlob": f.b64(ct), "KeyId": ctx.arn(keyid), "EncryptionAlgorithm": algorithm}


async def decrypt(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    ciphertext = f.required_blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    named = f.text(req, "KeyId")
    algorithm = _encryption_algorithm(req)
    aad = f.encryption_context(req)
    refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    if algorithm == k.SYMMETRIC_DEFAULT:
        if named is None:
            keyid, pt = await ctx.services.symmetric.decrypt_keyed(ctx.appid, ciphertext, aad)
            ctx.keyid = keyid
        else:
            keyid = await ctx.key(req)
            pt = await ctx.services.symmetric.decrypt(ctx.appid, keyid, ciphertext, aad)
    else:
        keyid = await ctx.key(req)
        await check_algorithm_fits(ctx, keyid, algorithm)
        pt = await ctx.services.asymmetric.decrypt(ctx.appid, keyid, ciphertext, k.ASYMMETRIC_ENCRYPTION[algorithm])
    return {"KeyId": ctx.arn(keyid), "Plaintext": f.b64(pt), "EncryptionAlgorithm": algorithm}


def _data_key_bytes(req: f.Request) -> int:
    spec = f.choice(req, "KeySpec", tuple(DATA_KEY_SPECS))
    size = f.integer(req, "NumberOfBytes", 1, MAX_DATA_KEY_BYTES)
    if (spec is None) == (size is None):
        raise validation("Specify either KeySpec or NumberOfBytes, but not both.")
    return DATA_KEY_SPECS[spec] if spec is not None else size  # type: ignore[return-value]


async def _data_key_request(ctx: Ctx, req: f.Request) -> tuple[str, int, bytes]:
    keyid = await ctx.key(req)
    size = _data_key_bytes(req)
    aad = f.encryption_context(req)
    refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    return keyid, size, aad


async def generate_data_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    # a key with a release policy is refused here (ReleaseAttestationRequired -> AccessDeniedException): this
    # door carries no attestation bundle (docs/key-release.md)
    keyid, size, aad = await _data_key_request(ctx, req)
    data_key, ct = await ctx.services.symmetric.generate_data_key(ctx.appid, keyid, size, aad, keyed=True)
    return {"CiphertextBlob": f.b64(ct), "Plaintext": f.b64(data_key), "KeyId": ctx.arn(keyid)}


async def generate_data_key_without_plaintext(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, size, aad = await _data_key_request(ctx, req)
    ct = await ctx.services.symmetric.wrapped_data_key(ctx.appid, keyid, size, aad, keyed=True)
    return {"CiphertextBlob": f.b64(ct), "KeyId": ctx.arn(keyid)}
