"""GetVersion and Enroll (unsigned actions)."""

from __future__ import annotations

from pyehsm.actions.registry import Caller, Reply, action
from pyehsm.services.container import Services


@action("GetVersion", signed=False)
async def get_version(svc: Services, caller: Caller, _: None) -> Reply:
    return Reply({"version": svc.version, "git_sha": svc.git_sha})


@action("Enroll", signed=False)
async def enroll(svc: Services, caller: Caller, _: None) -> Reply:
    svc.apps.check_enroll_allowed(caller.admin_token)
    appid, apikey = await svc.apps.enroll()
    return Reply({"appid": appid, "apikey": apikey})
