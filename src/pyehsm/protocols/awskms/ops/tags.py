"""Tags on the AWS door: TagResource, UntagResource, ListResourceTags, and the Tags member of CreateKey.

AWS's rules (KeyMetadataService keeps the per-key count): a tag key 1..128 characters not starting with
``aws:`` (reserved), a value 0..256, at most 50 tags per key, each key once per request; a tag that breaks
one of them is refused with TagException and nothing is written.
"""

from __future__ import annotations

from typing import Any

from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms.errors import AwsError, validation
from pyehsm.protocols.awskms.ops.context import Ctx
from pyehsm.services.key_metadata import MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS

RESERVED_PREFIX = "aws:"
MAX_LIST_TAGS = 50  # ListResourceTags' Limit


def tag_error(message: str) -> AwsError:
    return AwsError("TagException", message)


def _tag_key(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TAG_KEY_CHARS:
        raise tag_error(f"A TagKey must be a string of 1 to {MAX_TAG_KEY_CHARS} characters.")
    if value.lower().startswith(RESERVED_PREFIX):
        raise tag_error(f"Tag keys that begin with '{RESERVED_PREFIX}' are reserved for AWS use.")
    return value


def parse_tags(req: f.Request, field: str = "Tags") -> dict[str, str]:
    """The ``[{TagKey, TagValue}]`` member as a map, checked against AWS's rules; {} when absent."""
    value = req.get(field)
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise tag_error(f"{field} must be a list of at most {MAX_TAGS} tags.")
    tags: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or set(item) - {"TagKey", "TagValue"}:
            raise tag_error("Each tag must be an object with a TagKey and a TagValue.")
        key = _tag_key(item.get("TagKey"))
        tag_value = item.get("TagValue")
        if not isinstance(tag_value, str) or len(tag_value) > MAX_TAG_VALUE_CHARS:
            raise tag_error(f"A TagValue must be a string of at most {MAX_TAG_VALUE_CHARS} characters.")
        if key in tags:
            raise tag_error(f"The tag key '{key}' appears more than once.")
        tags[key] = tag_value
    return tags


async def tag_resource(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    tags = parse_tags(req)
    if not tags:
        raise validation("Tags must hold at least one tag.")
    await ctx.services.key_metadata.tag(ctx.appid, keyid, tags)
    return {}


async def untag_resource(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid = await ctx.key(req)
    names = req.get("TagKeys")
    if not isinstance(names, list) or not names or len(names) > MAX_TAGS:
        raise validation(f"TagKeys must be a list of 1 to {MAX_TAGS} tag keys.")
    await ctx.services.key_metadata.untag(ctx.appid, keyid, [_tag_key(name) for name in names])
    return {}


async def list_resource_tags(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    """The key's tags by key; a page of Limit (default and at most 50) after Marker (the last key sent)."""
    keyid = await ctx.key(req)
    limit = f.integer(req, "Limit", 1, MAX_LIST_TAGS) or MAX_LIST_TAGS
    marker = f.text(req, "Marker", max_len=MAX_TAG_KEY_CHARS)
    tags = sorted((await ctx.services.key_metadata.list_tags(ctx.appid, keyid)).items())
    if marker is not None:
        tags = [(k, v) for k, v in tags if k > marker]
    out: dict[str, Any] = {
        "Tags": [{"TagKey": k, "TagValue": v} for k, v in tags[:limit]],
        "Truncated": len(tags) > limit,
    }
    if out["Truncated"]:
        out["NextMarker"] = tags[limit - 1][0]
    return out
