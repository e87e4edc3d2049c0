"""Key rotation on the AWS door: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations (RotationService does the work and refuses, as AWS does, keys that
cannot rotate: asymmetric and HMAC keys answer UnsupportedOperationException; an imported key rotates on
demand to the material imported with ImportType NEW_KEY_MATERIAL, and never automatically)."""

from __future__ import annotations

from typing import Any

from pyehsm.crypto.keyspecs import Origin
from pyehsm.errors import KeyDisabled
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms.ops.context import Ctx, epoch, offset_marker
from pyehsm.services.rotation import MAX_ROTATION_DAYS, MIN_ROTATION_DAYS
from pyehsm.store.records import KeyState, VersionSource

DEFAULT_ROTATION_DAYS = 365
_ROTATION_TYPES = {
    VersionSource.ON_DEMAND: "ON_DEMAND",
    VersionSource.AUTOMATIC: "AUTOMATIC",
    VersionSource.IMPORTED: "ON_DEMAND",  # NEW_KEY_MATERIAL, then RotateKeyOnDemand
}


async def _set_rotation(ctx: Ctx, req: f.Request, days: int | None) -> dict[str, Any]:
    keyid = await ctx.key(req)
    record = await ctx.services.rotation.rotation_of(ctx.appid, keyid)
    if record.state is KeyState.DISABLED:  # AWS: DisabledException for a disabled key
        raise KeyDisabled(keyid)
    await ctx.services.rotation.set_rotation(ctx.appid, keyid, days)
    return {}


async def enable_key_rotation(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    days = f.integer(req, "RotationPeriodInDays", MIN_ROTATION_DAYS, MAX_ROTATION_DAYS)
    return await _set_rotation(ctx, req, DEFAULT_ROTATION_DAYS if days is None else days)


async def disable_key_rotation(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    return await _set_rotation(ctx, req, None)


async def get_key_rotation_status(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    record = await ctx.services.rotation.rotation_of(ctx.appid, keyid)
    out: dict[str, Any] = {"KeyId": ctx.arn(keyid), "KeyRotationEnabled": record.rotation_period_days is not None}
    if record.rotation_period_days is not None:
        out["RotationPeriodInDays"] = record.rotation_period_days
        if record.next_rotation_ms is not None:
            out["NextRotationDate"] = epoch(record.next_rotation_ms)
    return out


async def rotate_key_on_demand(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    await ctx.services.rotation.rotate(ctx.appid, keyid)  # refuses what AWS refuses (not rotatable, pending deletion)
    return {"KeyId": ctx.arn(keyid)}


async def list_key_rotations(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    """The key's rotations, oldest first (its first version is no rotation); Limit (default 100) after
    Marker (the NextMarker of the previous page)."""
    keyid = await ctx.key(req)
    limit = f.integer(req, "Limit", 1, 1000) or 100
    start = offset_marker(req)
    listing = await ctx.services.rotation.list_versions(ctx.appid, keyid)
    if listing.key.origin != Origin.EXTERNAL.value:
        await ctx.services.rotation.rotation_of(ctx.appid, keyid)  # AWS's refusals (not rotatable, pending deletion)
    primary = listing.key.primary_version  # an imported version above it waits for RotateKeyOnDemand
    rotations = [v for v in listing.versions if v.source in _ROTATION_TYPES and v.version <= primary]
    page = rotations[start : start + limit]
    out: dict[str, Any] = {
        "Rotations": [
            {"KeyId": keyid, "RotationDate": epoch(v.created_ms), "RotationType": _ROTATION_TYPES[v.source]}
            for v in page
        ],
        "Truncated": start + limit < len(rotations),
    }
    if out["Truncated"]:
        out["NextMarker"] = str(start + limit)
    return out
