"""A :class:`Call` (one request to make: Action, payload, result parser) and the small parsers builders share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pyehsm.client.models import (
    b64,
    unb64,
)
from pyehsm.client.operations.actions import IDEMPOTENT_ACTIONS

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One signed request to make: Action, payload (None: no payload field) and result parser."""

    action: str
    payload: dict[str, Any] | None
    parse: Callable[[dict[str, Any]], T]

    @property
    def idempotent(self) -> bool:
        return self.action in IDEMPOTENT_ACTIONS


def _payload(**fields: Any) -> dict[str, Any]:
    """The payload with absent (None) optional fields left out."""
    return {name: value for name, value in fields.items() if value is not None}


def _opt_b64(data: bytes | None) -> str | None:
    return b64(data) if data else None


def _none(_: dict[str, Any]) -> None:
    return None


def _field(name: str) -> Callable[[dict[str, Any]], str]:
    def parse(result: dict[str, Any]) -> str:
        return str(result[name])

    return parse


def _b64_field(name: str) -> Callable[[dict[str, Any]], bytes]:
    def parse(result: dict[str, Any]) -> bytes:
        return unb64(str(result[name]))

    return parse


def _truthy(result: dict[str, Any]) -> bool:
    value = result.get("result")
    return value is True or value in (1, "true", "True")


def _policy_text(policy: str | dict[str, Any] | None) -> str | None:
    """A release policy as the wire carries it: JSON text (docs/key-release.md)."""
    if policy is None or isinstance(policy, str):
        return policy
    return json.dumps(policy, separators=(",", ":"))
