"""Key management on the AWS door: CreateKey, ListKeys, EnableKey, DisableKey."""

from __future__ import annotations

from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import unsupported, validation
from pyehsm.protocols.awskms.ops.context import Ctx, key_metadata, refuse_if_set


async def create_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    spec_name = f.choice(req, "KeySpec", k.ALL_AWS_SPECS) or f.choice(req, "CustomerMasterKeySpec", k.ALL_AWS_SPECS)
    spec_name = spec_name or "SYMMETRIC_DEFAULT"
    usage_name = f.choice(req, "KeyUsage", k.ALL_USAGES, "ENCRYPT_DECRYPT")
    origin_name = f.choice(req, "Origin", k.ALL_ORIGINS, "AWS_KMS")
    f.text(req, "Description", max_len=8192)
    f.text(req, "Policy", max_len=32768)
    refuse_if_set(req, "Description", "key descriptions are stored by a later pyehsm release; omit it")
    refuse_if_set(req, "Tags", "tags are stored by a later pyehsm release; omit them")
    refuse_if_set(req, "Policy", "key policies are stored by a later pyehsm release; omit it")
    refuse_if_set(req, "MultiRegion", "pyehsm has no multi-Region keys")
    refuse_if_set(req, "CustomKeyStoreId", "pyehsm has no custom key stores")
    if spec_name not in k.CREATABLE:
        raise unsupported(f"KeySpec {spec_name} is not supported by pyehsm.")
    if not k.usage_fits(spec_name, usage_name):
        raise validation(f"KeyUsage {usage_name} is not valid for KeySpec {spec_name}.")
    if origin_name not in k.ORIGINS:
        raise unsupported(f"Origin {origin_name} is not supported by pyehsm.")
    if origin_name == "EXTERNAL" and spec_name in k.HMAC_KEY_BYTES:  # the spec would be known only from the material
        raise unsupported("HMAC keys with imported key material are not supported by pyehsm's AWS door.")
    assert usage_name is not None and origin_name is not None
    spec = k.create_keyspec(spec_name)
    record = await ctx.services.keys.create(ctx.appid, spec, k.ORIGINS[origin_name], k.USAGES[usage_name])
    ctx.keyid = record.keyid
    return {"KeyMetadata": key_metadata(ctx, record, spec.key_bytes if spec_name in k.HMAC_KEY_BYTES else None)}


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
