"""GetVersion and Enroll (unsigned actions); SetAppSettings (pyehsm extension, signed-action form only)."""

from __future__ import annotations

from typing import Literal

import msgspec

from pyehsm.protocols.ehsm.errors import NotFoundError, ParamError
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.services.container import Services

SIGNED_FORM_ONLY = "SetAppSettings must be sent in the signed-action form"


class SetAppSettingsPayload(msgspec.Struct):
    requireSignedAction: Literal["true", "false"]


async def get_version(svc: Services, caller: Caller, _: None) -> Reply:
    return Reply({"version": svc.version, "git_sha": svc.git_sha})


async def enroll(svc: Services, caller: Caller, _: None) -> Reply:
    svc.apps.check_enroll_allowed(caller.admin_token)
    appid, apikey = await svc.apps.enroll()
    return Reply({"appid": appid, "apikey": apikey})


async def set_app_settings(svc: Services, caller: Caller, p: SetAppSettingsPayload) -> Reply:
    """The calling app's own settings. Only a request that signed its Action may change them, so no
    captured request of the app can ever be re-sent as this one (docs/operations.md, "Signed actions")."""
    if not caller.signed_action:
        raise ParamError(SIGNED_FORM_ONLY)
    required = p.requireSignedAction == "true"
    if not await svc.apps.set_require_signed_action(caller.appid, required):
        raise NotFoundError("appid not found")  # pragma: no cover - the app was just authenticated
    return Reply({"requireSignedAction": p.requireSignedAction})
