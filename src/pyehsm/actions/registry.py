"""The dispatch table: Action name -> payload Struct + handler. Action modules register themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
H = TypeVar("H", bound=Handler)


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


ACTIONS: dict[str, ActionSpec] = {}


def action(
    name: str, payload: type[msgspec.Struct] | None = None, *, signed: bool = True, aliases: tuple[str, ...] = ()
) -> Callable[[H], H]:
    def register(handler: H) -> H:
        spec = ActionSpec(name, payload, handler, signed)
        for key in (name, *aliases):
            if key in ACTIONS:
                raise RuntimeError(f"action {key} registered twice")
            ACTIONS[key] = spec
        return handler

    return register


def load_actions() -> dict[str, ActionSpec]:
    """Import every module of pyehsm.actions (handlers register on import) and return the table."""
    import importlib
    import pkgutil

    import pyehsm.actions as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("registry", "validation"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    return ACTIONS
