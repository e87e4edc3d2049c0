"""THE operation table of the AWS KMS door: ``TrentService.<Name>`` -> a handler (request dict -> response
dict). A handler checks its members (fields.py), calls one service method and maps the result to AWS's
shapes; services raise domain errors, answered through errors.py. A name absent from the table answers
UnsupportedOperationException (``FOLLOW_UP`` lists the ones a later release adds: each one more row).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, missing, unsupported, validation
from pyehsm.protocols.awskms.ids import account_of, key_arn, resolve_keyid
from pyehsm.services.byok import TOKEN_TTL_MS
from pyehsm.services.container import Services
from pyehsm.store.records import KeyRecord, KeyState

MAX_PLAINTEXT = 4096  # Encrypt, Sign, Verify: AWS's limits
MAX_CIPHERTEXT = 6144
MAX_DATA_KEY_BYTES = 1024
DATA_KEY_SPECS = {"AES_128": 16, "AES_256": 32}
_IMPORT_TOKEN_TAG = {"EH_RSA_PKCS1_OAEP": b"\x01", "EH_RSA_AES_KEY_WRAP": b"\x02"}
_IMPORT_TOKEN_PADDING = {v: key for key, v in _IMPORT_TOKEN_TAG.items()}


@dataclass(slots=True)
class Ctx:
    """One authenticated request: the services, the caller's appid, and the door's region."""

    services: Services
    appid: str
    region: str
    keyid: str | None = None  # the key the request named, for the audit record

    def key(self, req: f.Request, field: str = "KeyId") -> str:
        self.keyid = resolve_keyid(self.appid, f.required_text(req, field))
        return self.keyid

    def arn(self, keyid: str) -> str:
        return key_arn(self.region, self.appid, keyid)


Handler = Callable[[Ctx, f.Request], Awaitable[dict[str, Any]]]


def _epoch(ms: int) -> float:
    return ms / 1000


def key_metadata(ctx: Ctx, record: KeyRecord) -> dict[str, Any]:
    spec = k.aws_spec(record.keyspec)
    usage = k.aws_usage(record.keyusage, record.keyspec)
    meta: dict[str, Any] = {
        "AWSAccountId": account_of(ctx.appid),
        "KeyId": record.keyid,
        "Arn": ctx.arn(record.keyid),
        "CreationDate": _epoch(record.created_ms),
        "Enabled": record.state is KeyState.ENABLED,
        "Description": "",
        "KeyUsage": usage,
        "KeyState": k.STATES[record.state],
        "Origin": k.aws_origin(record.origin),
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "MultiRegion": False,
    }
    if usage == "SIGN_VERIFY":
        meta["SigningAlgorithms"] = list(k.SIGNING_BY_SPEC.get(record.keyspec, ()))
    elif usage == "ENCRYPT_DECRYPT":
        meta["EncryptionAlgorithms"] = list(k.encryption_algorithms(record.keyspec))
    if record.origin == "EH_EXTERNAL_KEY":
        meta["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
    return meta


def _refuse_if_set(req: f.Request, field: str, what: str) -> None:
    value = req.get(field)
    if value not in (None, "", [], {}, False):
        raise unsupported(f"{field}: {what}")


# -- keys ---------------------------------------------------------------------------------------------------


async def create_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    spec_name = f.choice(req, "KeySpec", k.ALL_AWS_SPECS) or f.choice(req, "CustomerMasterKeySpec", k.ALL_AWS_SPECS)
    spec_name = spec_name or "SYMMETRIC_DEFAULT"
    usage_name = f.choice(req, "KeyUsage", k.ALL_USAGES, "ENCRYPT_DECRYPT")
    origin_name = f.choice(req, "Origin", k.ALL_ORIGINS, "AWS_KMS")
    f.text(req, "Description", max_len=8192)
    f.text(req, "Policy", max_len=32768)
    _refuse_if_set(req, "Description", "key descriptions are stored by a later pyehsm release; omit it")
    _refuse_if_set(req, "Tags", "tags are stored by a later pyehsm release; omit them")
    _refuse_if_set(req, "Policy", "key policies are stored by a later pyehsm release; omit it")
    _refuse_if_set(req, "MultiRegion", "pyehsm has no multi-Region keys")
    _refuse_if_set(req, "CustomKeyStoreId", "pyehsm has no custom key stores")
    if spec_name not in k.CREATE_SPECS:
        raise unsupported(f"KeySpec {spec_name} is not supported by pyehsm yet.")
    if not k.usage_fits(spec_name, usage_name):
        raise validation(f"KeyUsage {usage_name} is not valid for KeySpec {spec_name}.")
    if origin_name not in k.ORIGINS:
        raise unsupported(f"Origin {origin_name} is not supported by pyehsm.")
    assert usage_name is not None and origin_name is not None
    record = await ctx.services.keys.create(
        ctx.appid, keyspec(k.CREATE_SPECS[spec_name]), k.ORIGINS[origin_name], k.USAGES[usage_name]
    )
    ctx.keyid = record.keyid
    return {"KeyMetadata": key_metadata(ctx, record)}


async def list_keys(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    limit = f.integer(req, "Limit", 1, 1000) or 100
    marker = f.text(req, "Marker", max_len=1024)
    start = 0
    if marker is not None:
        if not marker.isdigit():
            raise validation("Marker is not valid: send the NextMarker of the previous response.")
        start = int(marker)
    records = sorted(await ctx.services.keys.list(ctx.appid), key=lambda r: (r.created_ms, r.keyid))
    page = records[start : start + limit]
    out: dict[str, Any] = {
        "Keys": [{"KeyId": r.keyid, "KeyArn": ctx.arn(r.keyid)} for r in page],
        "Truncated": start + limit < len(records),
    }
    if out["Truncated"]:
        out["NextMarker"] = str(start + limit)
    return out


async def enable_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.enable(ctx.appid, ctx.key(req))
    return {}


async def disable_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.disable(ctx.appid, ctx.key(req))
    return {}


# -- encryption ---------------------------------------------------------------------------------------------


def _encryption_algorithm(req: f.Request) -> str:
    name = f.choice(req, "EncryptionAlgorithm", k.ALL_ENCRYPTION, k.SYMMETRIC_DEFAULT)
    assert name is not None
    if name != k.SYMMETRIC_DEFAULT and name not in k.ASYMMETRIC_ENCRYPTION:
        raise unsupported(f"EncryptionAlgorithm {name} is not supported by pyehsm yet.")
    if name != k.SYMMETRIC_DEFAULT and req.get("EncryptionContext"):
        raise validation("EncryptionContext is not supported with asymmetric encryption algorithms.")
    return name


async def encrypt(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = ctx.key(req)
    plaintext = f.required_blob(req, "Plaintext", MAX_PLAINTEXT)
    algorithm = _encryption_algorithm(req)
    aad = f.encryption_context(req)
    if algorithm == k.SYMMETRIC_DEFAULT:
        ct = await ctx.services.symmetric.encrypt_keyed(ctx.appid, keyid, plaintext, aad)
    else:
        ct = await ctx.services.asymmetric.encrypt(ctx.appid, keyid, plaintext, k.ASYMMETRIC_ENCRYPTION[algorithm])
    return {"CiphertextBlob": f.b64(ct), "KeyId": ctx.arn(keyid), "EncryptionAlgorithm": algorithm}


async def decrypt(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    ciphertext = f.required_blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    named = f.text(req, "KeyId")
    algorithm = _encryption_algorithm(req)
    aad = f.encryption_context(req)
    _refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    if algorithm == k.SYMMETRIC_DEFAULT:
        if named is None:
            keyid, pt = await ctx.services.symmetric.decrypt_keyed(ctx.appid, ciphertext, aad)
            ctx.keyid = keyid
        else:
            keyid = ctx.key(req)
            pt = await ctx.services.symmetric.decrypt(ctx.appid, keyid, ciphertext, aad)
    else:
        keyid = ctx.key(req)
        pt = await ctx.services.asymmetric.decrypt(ctx.appid, keyid, ciphertext, k.ASYMMETRIC_ENCRYPTION[algorithm])
    return {"KeyId": ctx.arn(keyid), "Plaintext": f.b64(pt), "EncryptionAlgorithm": algorithm}


def _data_key_bytes(req: f.Request) -> int:
    spec = f.choice(req, "KeySpec", tuple(DATA_KEY_SPECS))
    size = f.integer(req, "NumberOfBytes", 1, MAX_DATA_KEY_BYTES)
    if (spec is None) == (size is None):
        raise validation("Specify either KeySpec or NumberOfBytes, but not both.")
    return DATA_KEY_SPECS[spec] if spec is not None else size  # type: ignore[return-value]


async def _data_key(ctx: Ctx, req: f.Request) -> tuple[str, bytes, bytes]:
    keyid = ctx.key(req)
    size = _data_key_bytes(req)
    aad = f.encryption_context(req)
    _refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    data_key, ct = await ctx.services.symmetric.generate_data_key(ctx.appid, keyid, size, aad, keyed=True)
    return keyid, data_key, ct


async def generate_data_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, data_key, ct = await _data_key(ctx, req)
    return {"CiphertextBlob": f.b64(ct), "Plaintext": f.b64(data_key), "KeyId": ctx.arn(keyid)}


async def generate_data_key_without_plaintext(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, _, ct = await _data_key(ctx, req)
    return {"CiphertextBlob": f.b64(ct), "KeyId": ctx.arn(keyid)}


# -- signatures and public keys ----------------------------------------------------------------------------


async def _signing(ctx: Ctx, req: f.Request) -> tuple[str, bytes, str, str, tuple[str, str | None]]:
    keyid = ctx.key(req)
    message = f.required_blob(req, "Message", MAX_PLAINTEXT)
    message_type = f.choice(req, "MessageType", ("RAW", "DIGEST", "EXTERNAL_MU"), "RAW")
    algorithm = f.choice(req, "SigningAlgorithm", k.ALL_SIGNING)
    if algorithm is None:
        raise missing("SigningAlgorithm")
    if message_type == "EXTERNAL_MU":
        raise unsupported("MessageType EXTERNAL_MU is for ML-DSA keys: a later pyehsm release.")
    record = await ctx.services.keys.get(ctx.appid, keyid)
    if algorithm not in k.SIGNING_BY_SPEC.get(record.keyspec, ()):
        raise AwsError("InvalidKeyUsageException", f"SigningAlgorithm {algorithm} is not valid for the key's KeySpec.")
    assert message_type is not None
    return keyid, message, "EH_DIGEST" if message_type == "DIGEST" else "EH_RAW", algorithm, k.SIGNING[algorithm]


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


def _pem_to_der(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


async def get_public_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = ctx.key(req)
    record = await ctx.services.keys.get(ctx.appid, keyid)
    if keyspec(record.keyspec).symmetric:
        raise unsupported("GetPublicKey is not valid for symmetric keys.")  # AWS's answer for them
    pem = await ctx.services.asymmetric.get_public_key(ctx.appid, keyid)
    spec, usage = k.aws_spec(record.keyspec), k.aws_usage(record.keyusage, record.keyspec)
    out: dict[str, Any] = {
        "KeyId": ctx.arn(keyid),
        "PublicKey": f.b64(_pem_to_der(pem)),
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "KeyUsage": usage,
    }
    if usage == "SIGN_VERIFY":
        out["SigningAlgorithms"] = list(k.SIGNING_BY_SPEC.get(record.keyspec, ()))
    else:
        out["EncryptionAlgorithms"] = list(k.encryption_algorithms(record.keyspec))
    return out


# -- key import ---------------------------------------------------------------------------------------------


async def get_parameters_for_import(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = ctx.key(req)
    wrapping = f.choice(req, "WrappingAlgorithm", k.ALL_WRAPPING)
    wrapping_spec = f.choice(req, "WrappingKeySpec", (*k.WRAPPING_SPECS, "SM2"))
    if wrapping is None:
        raise missing("WrappingAlgorithm")
    if wrapping_spec is None:
        raise missing("WrappingKeySpec")
    if wrapping not in k.WRAPPING or wrapping_spec not in k.WRAPPING_SPECS:
        raise unsupported(f"{wrapping} with {wrapping_spec} is not supported by pyehsm yet.")
    params = await ctx.services.byok.get_parameters_for_import(
        ctx.appid, keyid, keyspec(k.WRAPPING_SPECS[wrapping_spec])
    )
    token = _IMPORT_TOKEN_TAG[k.WRAPPING[wrapping]] + params.import_token.encode()
    return {
        "KeyId": ctx.arn(keyid),
        "ImportToken": f.b64(token),
        "PublicKey": f.b64(_pem_to_der(params.pubkey)),
        "ParametersValidTo": _epoch(ctx.services.clock.now_ms() + TOKEN_TTL_MS),
    }


async def import_key_material(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = ctx.key(req)
    token = f.required_blob(req, "ImportToken", 8192)
    material = f.required_blob(req, "EncryptedKeyMaterial", 8192)
    model = f.choice(
        req, "ExpirationModel", ("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"), "KEY_MATERIAL_DOES_NOT_EXPIRE"
    )
    if model == "KEY_MATERIAL_EXPIRES" or req.get("ValidTo") is not None:
        raise unsupported("Expiring key material is supported by a later pyehsm release.")
    padding = _IMPORT_TOKEN_PADDING.get(token[:1])
    if padding is None:
        raise AwsError("InvalidImportTokenException", "The import token is not valid for this key.")
    try:
        token_text = token[1:].decode("ascii")
    except UnicodeDecodeError:
        raise AwsError("InvalidImportTokenException", "The import token is not valid for this key.") from None
    await ctx.services.byok.import_key_material(ctx.appid, keyid, padding, material, token_text)
    return {"KeyId": ctx.arn(keyid), "KeyMaterialId": ""}


# -- key policies (the default policy; stored policies arrive with PutKeyPolicy) ------------------------------


def default_policy(ctx: Ctx) -> str:
    """AWS's default key policy for the caller's account (returned, never evaluated: access is per app)."""
    account = account_of(ctx.appid)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def _policy_name(req: f.Request) -> str:
    name = f.text(req, "PolicyName", max_len=128) or "default"
    if name != "default":
        raise AwsError("NotFoundException", f"Policy '{name}' does not exist: the only key policy is 'default'.")
    return name


async def get_key_policy(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.get(ctx.appid, ctx.key(req))
    return {"Policy": default_policy(ctx), "PolicyName": _policy_name(req)}


async def list_key_policies(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.get(ctx.appid, ctx.key(req))
    return {"PolicyNames": ["default"], "Truncated": False}


# -- grants -------------------------------------------------------------------------------------------------


async def list_grants(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.get(ctx.appid, ctx.key(req))
    return {"Grants": [], "Truncated": False}


async def list_retirable_grants(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    f.required_text(req, "RetiringPrincipal", max_len=256)
    return {"Grants": [], "Truncated": False}


async def create_grant(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    raise unsupported("pyehsm has no grants: CreateGrant is not supported.")


OPERATIONS: dict[str, Handler] = {
    "CreateKey": create_key,
    "ListKeys": list_keys,
    "EnableKey": enable_key,
    "DisableKey": disable_key,
    "Encrypt": encrypt,
    "Decrypt": decrypt,
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "Sign": sign,
    "Verify": verify,
    "GetPublicKey": get_public_key,
    "GetParametersForImport": get_parameters_for_import,
    "ImportKeyMaterial": import_key_material,
    "GetKeyPolicy": get_key_policy,
    "ListKeyPolicies": list_key_policies,
    "ListGrants": list_grants,
    "ListRetirableGrants": list_retirable_grants,
    "CreateGrant": create_grant,
}

# Listed by the AWS door's issue, waiting for the key-lifecycle services: each is one row above + a mapper.
FOLLOW_UP = (
    "DescribeKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    "ReEncrypt",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "GenerateMac",
    "VerifyMac",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "DeleteImportedKeyMaterial",
    "PutKeyPolicy",  # needs a stored policy per key (a store table): GetKeyPolicy then returns it
)
