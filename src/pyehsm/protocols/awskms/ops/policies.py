"""Key policies and grants on the AWS door: PutKeyPolicy stores a policy, GetKeyPolicy returns it or the
default document; policies are never evaluated (access is per app). Grants: empty lists for the tools that
read them, CreateGrant refused."""

from __future__ import annotations

import json
from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms.errors import AwsError, unsupported
from pyehsm.protocols.awskms.ids import account_of
from pyehsm.protocols.awskms.ops.context import Ctx
from pyehsm.protocols.awskms.ops.keys import MAX_POLICY_MEMBER_CHARS


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
    keyid = await ctx.key(req)
    name = _policy_name(req)
    stored = await ctx.services.key_metadata.get_policy(ctx.appid, keyid, name)
    return {"Policy": default_policy(ctx) if stored is None else stored, "PolicyName": name}


async def put_key_policy(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    name = _policy_name(req)
    policy = f.required_text(req, "Policy", max_len=MAX_POLICY_MEMBER_CHARS)
    await ctx.services.key_metadata.put_policy(ctx.appid, keyid, policy, name)  # checks the document
    return {}


async def list_key_policies(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.get(ctx.appid, await ctx.key(req))
    return {"PolicyNames": ["default"], "Truncated": False}


# -- grants -------------------------------------------------------------------------------------------------


async def list_grants(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    await ctx.services.keys.get(ctx.appid, await ctx.key(req))
    return {"Grants": [], "Truncated": False}


async def list_retirable_grants(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    f.required_text(req, "RetiringPrincipal", max_len=256)
    return {"Grants": [], "Truncated": False}


async def create_grant(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    raise unsupported("pyehsm has no grants: CreateGrant is not supported.")
