"""Aliases on the AWS door: CreateAlias, UpdateAlias, DeleteAlias, ListAliases (KeyMetadataService keeps the
naming rules, the per-app namespace and the targets; this module adds AWS's request checks and shapes)."""

from __future__ import annotations

import re
from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms.errors import AwsError, validation
from pyehsm.protocols.awskms.ids import resolve_keyid
from pyehsm.protocols.awskms.ops.context import Ctx, epoch
from pyehsm.services.key_metadata import MAX_ALIAS_CHARS
from pyehsm.services.keys import ALIAS_PREFIX

_PATTERN = re.compile(r"\A[a-zA-Z0-9:/_-]+\Z")  # AliasName in AWS's API model
RESERVED = "alias/aws/"
MAX_LIST_ALIASES = 100


def _alias_name(req: f.Request) -> str:
    name = f.required_text(req, "AliasName", max_len=MAX_ALIAS_CHARS)
    if not _PATTERN.match(name):
        raise validation(
            "1 validation error detected: Value at 'aliasName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )
    if not name.startswith(ALIAS_PREFIX) or name == ALIAS_PREFIX:
        raise validation("AliasName must begin with alias/ followed by a name.")
    if name.startswith(RESERVED):
        raise AwsError("NotAuthorizedException", "Alias names that begin with alias/aws/ are reserved for AWS.")
    if ":" in name:
        raise validation(f"{name} contains invalid characters for an alias")
    return name


async def _target(ctx: Ctx, req: f.Request) -> str:
    """TargetKeyId: a key id or key ARN (AWS: an alias cannot name another alias)."""
    if resolve_keyid(ctx.appid, f.required_text(req, "TargetKeyId")).startswith(ALIAS_PREFIX):
        raise validation("Aliases must refer to keys. Not aliases")
    return await ctx.key(req, "TargetKeyId")


async def create_alias(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    name = _alias_name(req)
    await ctx.services.key_metadata.create_alias(ctx.appid, name, await _target(ctx, req))
    return {}


async def update_alias(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    name = _alias_name(req)
    await ctx.services.key_metadata.update_alias(ctx.appid, name, await _target(ctx, req))
    return {}


async def delete_alias(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.key_metadata.delete_alias(ctx.appid, _alias_name(req))
    return {}


async def list_aliases(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    """The app's aliases by name (of one key with KeyId); a page of Limit (default 50, at most 100)."""
    keyid = await ctx.key(req) if req.get("KeyId") is not None else None
    limit = f.integer(req, "Limit", 1, MAX_LIST_ALIASES) or 50
    marker = f.text(req, "Marker", max_len=1024)
    page = await ctx.services.key_metadata.list_aliases(ctx.appid, keyid, limit, marker)
    out: dict[str, Any] = {
        "Aliases": [
            {
                "AliasName": a.alias,
                "AliasArn": ctx.alias_arn(a.alias),
                "TargetKeyId": a.keyid,
                "CreationDate": epoch(a.created_ms),
            }
            for a in page.items
        ],
        "Truncated": page.next_marker is not None,
    }
    if page.next_marker is not None:
        out["NextMarker"] = page.next_marker
    return out
