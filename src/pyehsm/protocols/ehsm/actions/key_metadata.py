"""Key metadata actions (pyehsm, docs/key-metadata.md): DescribeKey, UpdateKeyDescription, CreateAlias,
UpdateAlias, DeleteAlias, ListAliases, TagKey, UntagKey, ListKeyTags, ScheduleKeyDeletion, CancelKeyDeletion."""

from __future__ import annotations

from typing import Annotated

import msgspec

from pyehsm.protocols.ehsm.actions.keys import STATE_NAMES, KeyIdPayload, Marker, PageLimit
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import KeyId, identifier, text
from pyehsm.services.container import Services
from pyehsm.services.key_metadata import (
    MAX_KEY_DESCRIPTION_CHARS,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    KeyDescription,
)
from pyehsm.store.records import KeyState

Alias = Annotated[str, identifier(1, 1024)]  # the naming rules (and their message) are the service's
TagKey = Annotated[str, text(MAX_TAG_KEY_CHARS, 1)]
TagValue = Annotated[str, text(MAX_TAG_VALUE_CHARS)]
Tags = Annotated[dict[TagKey, TagValue], msgspec.Meta(min_length=1, max_length=MAX_TAGS)]
TagKeys = Annotated[list[TagKey], msgspec.Meta(min_length=1, max_length=MAX_TAGS)]
PendingWindow = Annotated[int, msgspec.Meta(ge=7, le=30)]


class UpdateKeyDescriptionPayload(msgspec.Struct):
    keyid: KeyId
    description: Annotated[str, text(MAX_KEY_DESCRIPTION_CHARS)] | None = None  # absent or "": no description


class AliasKeyPayload(msgspec.Struct):
    alias: Alias
    keyid: KeyId


class AliasPayload(msgspec.Struct):
    alias: Alias


class ListAliasesPayload(msgspec.Struct):
    keyid: KeyId | None = None
    limit: PageLimit | None = None
    marker: Marker | None = None


class TagKeyPayload(msgspec.Struct):
    keyid: KeyId
    tags: Tags


class UntagKeyPayload(msgspec.Struct):
    keyid: KeyId
    tagKeys: TagKeys


class ScheduleKeyDeletionPayload(msgspec.Struct):
    keyid: KeyId
    pendingWindowInDays: PendingWindow | None = None  # 30 when absent


def describe_result(d: KeyDescription) -> dict[str, object]:
    r = d.record
    return {
        "keyid": r.keyid,
        "keyspec": r.keyspec,
        "keyusage": r.keyusage,
        "origin": r.origin,
        "state": STATE_NAMES[r.state],
        "keyState": 1 if r.state is KeyState.ENABLED else 0,
        "description": r.description,
        "creationDate": r.created_ms,
        "expireTime": r.expire_ms,
        "primaryVersion": r.primary_version,
        "versionCount": len(d.versions),
        "rotationPeriodInDays": r.rotation_period_days,
        "nextRotationDate": r.next_rotation_ms,
        "aliases": d.aliases,
        "tags": d.tags,
        "deletionDate": r.deletion_ms,
    }


async def describe_key(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    described = await svc.key_metadata.describe(caller.appid, p.keyid)
    return Reply(describe_result(described), keyid=described.record.keyid)


async def update_key_description(svc: Services, caller: Caller, p: UpdateKeyDescriptionPayload) -> Reply:
    await svc.key_metadata.update_description(caller.appid, p.keyid, p.description or "")
    return Reply(keyid=p.keyid)


async def create_alias(svc: Services, caller: Caller, p: AliasKeyPayload) -> Reply:
    await svc.key_metadata.create_alias(caller.appid, p.alias, p.keyid)
    return Reply(keyid=p.keyid)


async def update_alias(svc: Services, caller: Caller, p: AliasKeyPayload) -> Reply:
    await svc.key_metadata.update_alias(caller.appid, p.alias, p.keyid)
    return Reply(keyid=p.keyid)


async def delete_alias(svc: Services, caller: Caller, p: AliasPayload) -> Reply:
    await svc.key_metadata.delete_alias(caller.appid, p.alias)
    return Reply()


async def list_aliases(svc: Services, caller: Caller, p: ListAliasesPayload | None) -> Reply:
    p = p or ListAliasesPayload()
    page = await svc.key_metadata.list_aliases(caller.appid, p.keyid, p.limit, p.marker)
    result: dict[str, object] = {
        "list": [{"alias": a.alias, "keyid": a.keyid, "creationDate": a.created_ms} for a in page.items],
        "truncated": page.next_marker is not None,
    }
    if page.next_marker is not None:
        result["nextMarker"] = page.next_marker
    return Reply(result)


async def tag_key(svc: Services, caller: Caller, p: TagKeyPayload) -> Reply:
    await svc.key_metadata.tag(caller.appid, p.keyid, p.tags)
    return Reply(keyid=p.keyid)


async def untag_key(svc: Services, caller: Caller, p: UntagKeyPayload) -> Reply:
    await svc.key_metadata.untag(caller.appid, p.keyid, p.tagKeys)
    return Reply(keyid=p.keyid)


async def list_key_tags(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    tags = await svc.key_metadata.list_tags(caller.appid, p.keyid)
    return Reply({"tags": tags}, keyid=p.keyid)


async def schedule_key_deletion(svc: Services, caller: Caller, p: ScheduleKeyDeletionPayload) -> Reply:
    deletion_ms = await svc.key_metadata.schedule_deletion(caller.appid, p.keyid, p.pendingWindowInDays)
    return Reply({"keyid": p.keyid, "state": "PendingDeletion", "deletionDate": deletion_ms}, keyid=p.keyid)


async def cancel_key_deletion(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    state = await svc.key_metadata.cancel_deletion(caller.appid, p.keyid)
    return Reply({"keyid": p.keyid, "state": STATE_NAMES[state]}, keyid=p.keyid)
