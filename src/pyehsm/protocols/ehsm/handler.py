"""What an eHSM Action handler is: its caller, its reply, and the row of the Action table (table.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pyehsm.services.container import Services

SUCCESS = "successful"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the authenticated appid (empty for unsigned actions) and request facts."""

    appid: str
    request_id: str = ""
    admin_token: str | None = None
    signed_action: bool = False  # the request signed its Action (pyehsm's signed-action form)


@dataclass(slots=True)
class Reply:
    result: Mapping[str, Any] = field(default_factory=dict)
    message: str = SUCCESS
    keyid: str | None = None  # for the audit record; never a secret
    key_version: int | None = None  # for the audit record: the key version the action used


Handler = Callable[[Services, Caller, Any], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    payload: type[msgspec.Struct] | None
    handler: Handler
    signed: bool = True

    @property
    def payload_required(self) -> bool:
        """Whether the action has required payload fields (then a request without payload is refused)."""
        if self.payload is None:
            return False
        return any(f.required for f in msgspec.structs.fields(self.payload))
