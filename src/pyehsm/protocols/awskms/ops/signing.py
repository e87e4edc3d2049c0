"""Signatures and public keys on the AWS door: Sign, Verify, GetPublicKey."""

from __future__ import annotations

from typing import Any

from pyehsm.crypto.asymmetric import spki_der
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, missing, unsupported
from pyehsm.protocols.awskms.ops.context import MAX_CIPHERTEXT, MAX_PLAINTEXT, Ctx


async def _signing(ctx: Ctx, req: f.Request) -> tuple[str, bytes, str, str, tuple[str, str | None]]:
    keyid = await ctx.key(req)
    message = f.required_blob(req, "Message", MAX_PLAINTEXT)
    message_type = f.choice(req, "MessageType", ("RAW", "DIGEST", "EXTERNAL_MU"), "RAW")
    algorithm = f.choice(req, "SigningAlgorithm", k.ALL_SIGNING)
    if algorithm is None:
        raise missing("SigningAlgorithm")
    record = await ctx.services.keys.get(ctx.appid, keyid)
    if algorithm not in k.SIGNING_BY_SPEC.get(record.keyspec, ()):
        raise AwsError("InvalidKeyUsageException", f"SigningAlgorithm {algorithm} is not valid for the key's KeySpec.")
    assert message_type is not None
    # EXTERNAL_MU: ML-DSA keys sign the 64-byte mu; any other key refuses it (services/asymmetric.py)
    return keyid, message, k.MESSAGE_TYPES[message_type], algorithm, k.SIGNING[algorithm]


async def sign(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, message, message_type, algorithm, (digest, padding) = await _signing(ctx, req)
    sig = await ctx.services.asymmetric.sign(ctx.appid, keyid, message, message_type, digest, padding)
    return {"KeyId": ctx.arn(keyid), "Signature": f.b64(sig), "SigningAlgorithm": algorithm}


async def verify(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    signature = f.required_blob(req, "Signature", MAX_CIPHERTEXT)
    keyid, message, message_type, algorithm, (digest, padding) = await _signing(ctx, req)
    valid = await ctx.services.asymmetric.verify(ctx.appid, keyid, message, signature, message_type, digest, padding)
    if not valid:
        raise AwsError("KMSInvalidSignatureException", "The signature is not valid for this message and key.")
    return {"KeyId": ctx.arn(keyid), "SignatureValid": True, "SigningAlgorithm": algorithm}


async def get_public_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    record = await ctx.services.keys.get(ctx.appid, keyid)
    if keyspec(record.keyspec).symmetric:
        raise unsupported("GetPublicKey is not valid for symmetric keys.")  # AWS's answer for them
    pem = await ctx.services.asymmetric.get_public_key(ctx.appid, keyid)
    spec, usage = k.aws_spec(record.keyspec), k.aws_usage(record.keyusage, record.keyspec)
    out: dict[str, Any] = {
        "KeyId": ctx.arn(keyid),
        "PublicKey": f.b64(spki_der(pem)),
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "KeyUsage": usage,
    }
    if usage == "SIGN_VERIFY":
        out["SigningAlgorithms"] = list(k.SIGNING_BY_SPEC.get(record.keyspec, ()))
    else:
        out["EncryptionAlgorithms"] = list(k.encryption_algorithms(record.keyspec))
    return out
