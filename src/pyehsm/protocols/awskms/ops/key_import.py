"""BYOK on the AWS door: GetParametersForImport, ImportKeyMaterial."""

from __future__ import annotations

from typing import Any

from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, missing, unsupported
from pyehsm.protocols.awskms.ops.context import Ctx, epoch, pem_to_der
from pyehsm.services.byok import TOKEN_TTL_MS

_IMPORT_TOKEN_TAG = {"EH_RSA_PKCS1_OAEP": b"\x01", "EH_RSA_AES_KEY_WRAP": b"\x02"}
_IMPORT_TOKEN_PADDING = {v: key for key, v in _IMPORT_TOKEN_TAG.items()}


async def get_parameters_for_import(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
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
        "PublicKey": f.b64(pem_to_der(params.pubkey)),
        "ParametersValidTo": epoch(ctx.services.clock.now_ms() + TOKEN_TTL_MS),
    }


async def import_key_material(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
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
