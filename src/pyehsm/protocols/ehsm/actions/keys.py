"""Key management actions: CreateKey, ListKey, EnableKey, DisableKey, DeleteKey, DeleteAllKey."""

from __future__ import annotations

import msgspec

from pyehsm.crypto.keyspecs import KeySpecName, KeyUsage, Origin, OriginName, UsageName, keyspec
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import KeyId
from pyehsm.services.container import Services
from pyehsm.store.records import KeyRecord, KeyState


class CreateKeyPayload(msgspec.Struct):
    keyspec: KeySpecName
    origin: OriginName
    keyusage: UsageName | None = None


class KeyIdPayload(msgspec.Struct):
    keyid: KeyId


_STATE_NAMES = {KeyState.ENABLED: "Enabled", KeyState.DISABLED: "Disabled", KeyState.PENDING_IMPORT: "PendingImport"}


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
        "state": _STATE_NAMES[record.state],
    }


async def create_key(svc: Services, caller: Caller, p: CreateKeyPayload) -> Reply:
    usage = KeyUsage(p.keyusage) if p.keyusage else None
    record = await svc.keys.create(caller.appid, keyspec(p.keyspec), Origin(p.origin), usage)
    return Reply({"keyid": record.keyid}, keyid=record.keyid)


async def list_key(svc: Services, caller: Caller, _: None) -> Reply:
    return Reply({"list": [key_summary(r) for r in await svc.keys.list(caller.appid)]})


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
