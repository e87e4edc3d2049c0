"""Request members: typed getters that refuse bad input with AWS's ValidationException."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pyehsm.protocols.awskms.errors import missing, validation

Request = dict[str, Any]


def _member(field: str) -> str:
    return field[0].lower() + field[1:]


def text(req: Request, field: str, *, required: bool = False, max_len: int = 2048) -> str | None:
    value = req.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    if not isinstance(value, str):
        raise validation(f"1 validation error detected: Value at '{_member(field)}' must be a string")
    if required and not value:
        raise validation(
            f"1 validation error detected: Value at '{_member(field)}' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(value) > max_len:
        raise validation(
            f"1 validation error detected: Value at '{_member(field)}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {max_len}"
        )
    return value


def required_text(req: Request, field: str, max_len: int = 2048) -> str:
    value = text(req, field, required=True, max_len=max_len)
    assert value is not None
    return value


def choice(req: Request, field: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = text(req, field)
    if value is None:
        return default
    if value not in allowed:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{_member(field)}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def blob(req: Request, field: str, *, required: bool = True, max_len: int = 6144) -> bytes | None:
    value = req.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    if not isinstance(value, str):
        raise validation(f"1 validation error detected: Value at '{_member(field)}' must be base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise validation(f"1 validation error detected: Value at '{_member(field)}' is not valid base64") from None
    if not 1 <= len(data) <= max_len:
        raise validation(
            f"1 validation error detected: Value at '{_member(field)}' failed to satisfy constraint: "
            f"Member must have length between 1 and {max_len}"
        )
    return data


def required_blob(req: Request, field: str, max_len: int = 6144) -> bytes:
    value = blob(req, field, max_len=max_len)
    assert value is not None
    return value


def integer(req: Request, field: str, low: int, high: int) -> int | None:
    value = req.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise validation(f"1 validation error detected: Value at '{_member(field)}' must be an integer")
    if not low <= value <= high:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{_member(field)}' failed to satisfy constraint: "
            f"Member must have value between {low} and {high}"
        )
    return value


def encryption_context(req: Request, field: str = "EncryptionContext") -> bytes:
    """The EncryptionContext (or ReEncrypt's Source/DestinationEncryptionContext, ``field``) as the AAD it
    authenticates: empty when absent or empty, else the UTF-8 JSON of the map with sorted keys and no spaces
    (docs/ciphertext-format.md), so the eHSM door can pass it too."""
    value = req.get(field)
    if value is None or value == {}:
        return b""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise validation(f"{field} must be a map of strings to strings.")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
