"""Key management actions: CreateKey, ListKey, EnableKey, DisableKey, DeleteKey, DeleteAllKey.

Every keyid field also takes one of the app's aliases (services/keys.py KeyService.get resolves it)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from pyehsm.crypto.keyspecs import KeySpecName, KeyUsage, Origin, OriginName, UsageName, keyspec
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import KeyId, identifier
from pyehsm.services.container import Services
from pyehsm.services.release_policies import PolicyText, parse
from pyehsm.store.records import KeyRecord, KeyState


class CreateKeyPayload(msgspec.Struct):
    keyspec: KeySpecName
    origin: OriginName
    keyusage: UsageName | None = None
    releasePolicy: PolicyText | None = None  # docs/key-release.md: a JSON document, as text


class KeyIdPayload(msgspec.Struct):
    keyid: KeyId


PageLimit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Marker = Annotated[str, identifier(1, 512)]


class ListKeyPayload(msgspec.Struct):
    """ListKey's optional paging (pyehsm): without ``limit`` and ``marker`` it answers every key, as ever."""

    limit: PageLimit | None = None
    marker: Marker | None = None


STATE_NAMES = {
    KeyState.ENABLED: "Enabled",
    KeyState.DISABLED: "Disabled",
    KeyState.PENDING_IMPORT: "PendingImport",
    KeyState.PENDING_DELETION: "PendingDeletion",
}


def key_summary(record: KeyRecord) -> dict[str, object]:
    return {
        "keyid": record.keyid,
        "alias": record.alias,
        "keyspec": record.keyspec,
        "keyState": 1 if record.state is KeyState.ENABLED else 0,
        "creationDate": record.created_ms,
        "expireTime": record.expire_ms,
        # pyehsm extensions (new fields only):
        "keyusage": record.keyusage,
        "origin": record.origin,
        "state": STATE_NAMES[record.state],
        **({"deletionDate": record.deletion_ms} if record.deletion_ms is not None else {}),
    }


async def create_key(svc: Services, caller: Caller, p: CreateKeyPayload) -> Reply:
    usage = KeyUsage(p.keyusage) if p.keyusage else None
    policy = parse(p.releasePolicy).canonical_json() if p.releasePolicy else None
    record = await svc.keys.create(caller.appid, keyspec(p.keyspec), Origin(p.origin), usage, policy)
    return Reply({"keyid": record.keyid}, keyid=record.keyid)


async def list_key(svc: Services, caller: Caller, p: ListKeyPayload | None) -> Reply:
    limit, marker = (p.limit, p.marker) if p is not None else (None, None)
    page = await svc.key_metadata.list_keys(caller.appid, limit, marker)
    result: dict[str, object] = {"list": [key_summary(r) for r in page.items]}
    if limit is not None or marker is not None:  # pyehsm paging: the fields appear only when asked for
        result["truncated"] = page.next_marker is not None
        if page.next_marker is not None:
            result["nextMarker"] = page.next_marker
    return Reply(result)


async def enable_key(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    await svc.keys.enable(caller.appid, p.keyid)
    return Reply(keyid=p.keyid)


async def disable_key(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    await svc.keys.disable(caller.appid, p.keyid)
    return Reply(keyid=p.keyid)


async def delete_key(svc: Services, caller: Caller, p: KeyIdPayload) -> Reply:
    await svc.keys.delete(caller.appid, p.keyid)
    return Reply(keyid=p.keyid)


async def delete_all_key(svc: Services, caller: Caller, _: None) -> Reply:
    await svc.keys.delete_all(caller.appid)
    return Reply()
