"""Key management on the AWS door: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion (the key-metadata services do the work)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import missing, unsupported, validation
from pyehsm.protocols.awskms.ops.context import Ctx, epoch, key_metadata, refuse_if_set
from pyehsm.protocols.awskms.ops.mac import mac_key_bytes
from pyehsm.protocols.awskms.ops.tags import parse_tags
from pyehsm.services.key_metadata import (
    DEFAULT_PENDING_WINDOW_DAYS,
    MAX_KEY_DESCRIPTION_CHARS,
    MAX_PENDING_WINDOW_DAYS,
    MIN_PENDING_WINDOW_DAYS,
    check_policy,
)

MAX_POLICY_MEMBER_CHARS = 131072  # the Policy member's length in AWS's API model (the document: 32768)


async def create_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    spec_name = f.choice(req, "KeySpec", k.ALL_AWS_SPECS) or f.choice(req, "CustomerMasterKeySpec", k.ALL_AWS_SPECS)
    spec_name = spec_name or "SYMMETRIC_DEFAULT"
    usage_name = f.choice(req, "KeyUsage", k.ALL_USAGES, "ENCRYPT_DECRYPT")
    origin_name = f.choice(req, "Origin", k.ALL_ORIGINS, "AWS_KMS")
    description = f.text(req, "Description", max_len=MAX_KEY_DESCRIPTION_CHARS)
    policy = f.text(req, "Policy", max_len=MAX_POLICY_MEMBER_CHARS)
    tags = parse_tags(req)
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
    if policy is not None:
        check_policy(policy)
    assert usage_name is not None and origin_name is not None
    # every member is checked above: a refused request creates no key
    spec = k.create_keyspec(spec_name)
    record = await ctx.services.keys.create(ctx.appid, spec, k.ORIGINS[origin_name], k.USAGES[usage_name])
    ctx.keyid = record.keyid
    meta = ctx.services.key_metadata
    if description:
        await meta.update_description(ctx.appid, record.keyid, description)
        record = replace(record, description=description)
    if tags:
        await meta.tag(ctx.appid, record.keyid, tags)
    if policy is not None:
        await meta.put_policy(ctx.appid, record.keyid, policy)
    return {"KeyMetadata": key_metadata(ctx, record, spec.key_bytes if spec_name in k.HMAC_KEY_BYTES else None)}


async def describe_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    described = await ctx.services.key_metadata.describe(ctx.appid, await ctx.key(req))
    record = described.record
    return {"KeyMetadata": key_metadata(ctx, record, await mac_key_bytes(ctx, record))}


async def update_key_description(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    description = f.text(req, "Description", max_len=MAX_KEY_DESCRIPTION_CHARS)
    if description is None:
        raise missing("Description")
    await ctx.services.key_metadata.update_description(ctx.appid, keyid, description)
    return {}


async def schedule_key_deletion(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    days = f.integer(req, "PendingWindowInDays", MIN_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS)
    days = DEFAULT_PENDING_WINDOW_DAYS if days is None else days
    deletion_ms = await ctx.services.key_metadata.schedule_deletion(ctx.appid, keyid, days)
    return {
        "KeyId": ctx.arn(keyid),
        "DeletionDate": epoch(deletion_ms),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": days,
    }


async def cancel_key_deletion(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    await ctx.services.key_metadata.cancel_deletion(ctx.appid, keyid)
    return {"KeyId": ctx.arn(keyid)}


async def list_keys(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    """One page read from the store (keyset paging, as eHSM ListKey): the marker is the last key's creation
    time and keyid, so a page costs the same at any depth and any key count."""
    limit = f.integer(req, "Limit", 1, 1000) or 100
    marker = f.text(req, "Marker", max_len=1024)
    page = await ctx.services.key_metadata.list_keys(ctx.appid, limit, marker, aliases=False)
    out: dict[str, Any] = {
        "Keys": [{"KeyId": r.keyid, "KeyArn": ctx.arn(r.keyid)} for r in page.items],
        "Truncated": page.next_marker is not None,
    }
    if page.next_marker is not None:
        out["NextMarker"] = page.next_marker
    return out


async def enable_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.enable(ctx.appid, await ctx.key(req))
    return {}


async def disable_key(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.disable(ctx.appid, await ctx.key(req))
    return {}
