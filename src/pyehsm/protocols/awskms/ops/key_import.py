"""BYOK on the AWS door: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial (services/byok.py).

ImportType NEW_KEY_MATERIAL on a key that has material imports into a new key version that waits, as AWS's
PENDING_ROTATION material does, until RotateKeyOnDemand (RotateKey) makes it primary. An expiring import
(KEY_MATERIAL_EXPIRES with ValidTo, at most 365 days ahead) or DeleteImportedKeyMaterial deletes the key's
current material at that time and returns the key to PendingImport until the same material is imported again.
"""

from __future__ import annotations

import re
from typing import Any

from pyehsm.clock import DAY_MS
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, missing, unsupported, validation
from pyehsm.protocols.awskms.ops.context import Ctx, epoch, pem_to_der, refuse_if_set
from pyehsm.services.byok import TOKEN_TTL_MS
from pyehsm.store.records import KeyState

_IMPORT_TOKEN_TAG = {
    "EH_RSA_PKCS1_OAEP": b"\x01",
    "EH_RSA_AES_KEY_WRAP": b"\x02",
    "EH_RSA_PKCS1_OAEP_SHA1": b"\x03",
    "EH_RSA_AES_KEY_WRAP_SHA1": b"\x04",
}
_IMPORT_TOKEN_PADDING = {v: key for key, v in _IMPORT_TOKEN_TAG.items()}
MAX_VALID_TO_MS = 365 * DAY_MS  # AWS: ValidTo at most 365 days from the request
_MATERIAL_ID = re.compile(r"\A[0-9a-f]{64}\Z")  # AWS's BackingKeyIdType


async def get_parameters_for_import(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    wrapping = f.choice(req, "WrappingAlgorithm", k.ALL_WRAPPING)
    wrapping_spec = f.choice(req, "WrappingKeySpec", (*k.WRAPPING_SPECS, "SM2"))
    if wrapping is None:
        raise missing("WrappingAlgorithm")
    if wrapping_spec is None:
        raise missing("WrappingKeySpec")
    if wrapping not in k.WRAPPING or wrapping_spec not in k.WRAPPING_SPECS:
        raise unsupported(f"{wrapping} with {wrapping_spec} is not supported by pyehsm.")
    record = await ctx.services.keys.get(ctx.appid, keyid)
    params = await ctx.services.byok.get_parameters_for_import(
        ctx.appid,
        keyid,
        keyspec(k.WRAPPING_SPECS[wrapping_spec]),
        new_version=record.state is not KeyState.PENDING_IMPORT,  # a key with material: for NEW_KEY_MATERIAL
    )
    token = _IMPORT_TOKEN_TAG[k.WRAPPING[wrapping]] + params.import_token.encode()
    return {
        "KeyId": ctx.arn(keyid),
        "ImportToken": f.b64(token),
        "PublicKey": f.b64(pem_to_der(params.pubkey)),
        "ParametersValidTo": epoch(ctx.services.clock.now_ms() + TOKEN_TTL_MS),
    }


async def import_key_material(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    token = f.required_blob(req, "ImportToken", 8192)
    material = f.required_blob(req, "EncryptedKeyMaterial", 8192)
    expires_ms = _valid_to(ctx, req)
    import_type = f.choice(req, "ImportType", ("NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"))
    expected_id = _material_id(req)
    if import_type == "NEW_KEY_MATERIAL" and expected_id is not None:
        raise validation("KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL.")
    refuse_if_set(req, "KeyMaterialDescription", "pyehsm stores no key material descriptions; omit it")
    padding = _IMPORT_TOKEN_PADDING.get(token[:1])
    if padding is None:
        raise AwsError("InvalidImportTokenException", "The import token is not valid for this key.")
    try:
        token_text = token[1:].decode("ascii")
    except UnicodeDecodeError:
        raise AwsError("InvalidImportTokenException", "The import token is not valid for this key.") from None
    imported = await ctx.services.byok.import_key_material(
        ctx.appid,
        keyid,
        padding,
        material,
        token_text,
        new_version=import_type == "NEW_KEY_MATERIAL",  # into a key awaiting material: its first import
        make_primary=False,  # NEW_KEY_MATERIAL waits for RotateKeyOnDemand, as on AWS
        expires_ms=expires_ms,
        expected_id=expected_id,
    )
    return {"KeyId": ctx.arn(keyid), "KeyMaterialId": imported.material_id}


async def delete_imported_key_material(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    deleted = await ctx.services.byok.delete_imported_material(ctx.appid, keyid, _material_id(req))
    return {"KeyId": ctx.arn(keyid), "KeyMaterialId": deleted}


def _valid_to(ctx: Ctx, req: f.Request) -> int | None:
    """When the imported material expires (ms), from ExpirationModel and ValidTo as AWS pairs them; None: never.
    ExpirationModel absent: the material expires when ValidTo is given, and never otherwise."""
    model = f.choice(req, "ExpirationModel", ("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"))
    valid_to = req.get("ValidTo")
    if model == "KEY_MATERIAL_DOES_NOT_EXPIRE":
        if valid_to is not None:
            raise validation("ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
        return None
    if valid_to is None:
        if model == "KEY_MATERIAL_EXPIRES":
            raise validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
        return None
    if isinstance(valid_to, bool) or not isinstance(valid_to, int | float):
        raise validation("1 validation error detected: Value at 'validTo' must be a timestamp")
    now = ctx.services.clock.now_ms()
    expires = int(valid_to * 1000)
    if not now < expires <= now + MAX_VALID_TO_MS:
        raise validation("ValidTo must be a future date no more than 365 days from now.")
    return expires


def _material_id(req: f.Request) -> str | None:
    value = f.text(req, "KeyMaterialId", max_len=64)
    if value is not None and not _MATERIAL_ID.match(value):
        raise validation(
            "1 validation error detected: Value at 'keyMaterialId' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[a-f0-9]+$"
        )
    return value
