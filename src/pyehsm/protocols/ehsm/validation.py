"""Payload field types and the mapping of msgspec validation errors to docs/protocol.md's messages.

Every payload is converted into its action's msgspec Struct; the Struct's annotations carry the
limits (lengths, ranges, allowed constants), so validation is declared once, next to the fields.

Control characters: an identifier (appid, keyid, policy id, import token...) may hold no C0 control
character (U+0000..U+001F) and no DEL; a text field (secret name, description) may hold tab, line
feed and carriage return (whitespace, which docs/protocol.md allows in them) but no other control. Both
stores refuse them identically here, before anything reaches a store (PostgreSQL text cannot hold
U+0000 at all). Secret *data* is encrypted bytes and may hold anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from pyehsm.protocols.ehsm.errors import ParamError

MAX_DATA_BYTES = 6144  # docs/protocol.md: MAX = 6144 bytes of raw data
MAX_CIPHERTEXT_BYTES = 8192

# \A...\Z, not ^...$: msgspec applies the pattern with re.search, and $ also matches before a final "\n".
IDENTIFIER_PATTERN = r"\A[^\x00-\x1f\x7f]*\Z"
TEXT_PATTERN = r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z"
_CONTROL_PATTERNS = (IDENTIFIER_PATTERN, TEXT_PATTERN)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def has_control_chars(text: str) -> bool:
    """True when ``text`` holds a character no identifier may hold (C0 controls, DEL)."""
    return _IDENTIFIER.search(text) is None


def identifier(min_length: int = 0, max_length: int | None = None) -> msgspec.Meta:
    """The constraints of an identifier field: its length and no control characters."""
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=IDENTIFIER_PATTERN)


def text(max_length: int, min_length: int = 0) -> msgspec.Meta:
    """The constraints of a text field (secret name, description): its length; tab and newlines (whitespace,
    docs/protocol.md section 4) but no other control character."""
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=TEXT_PATTERN)


# A keyid field holds a keyid (at most 64 characters, as always) or one of the app's aliases (``alias/...``, at most
# 256 characters, docs/key-metadata.md); either without control characters. A refusal reads as before: a length
# error, or the control-character message (_keyid_message).
MAX_KEYID_CHARS, MAX_ALIAS_CHARS = 64, 256
KEYID_PATTERN = r"\A(?:alias/[^\x00-\x1f\x7f]*|[^\x00-\x1f\x7f]{0,64})\Z"  # 64: MAX_KEYID_CHARS
KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ALIAS_CHARS, pattern=KEYID_PATTERN)]
Data = Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_DATA_BYTES)]
Aad = Annotated[bytes, msgspec.Meta(max_length=MAX_DATA_BYTES)]
Ciphertext = Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_CIPHERTEXT_BYTES)]
SignContext = Annotated[bytes, msgspec.Meta(max_length=255)]  # FIPS 204 context string (base64 on the wire)

S = TypeVar("S", bound=msgspec.Struct)

_AT = re.compile(r" - at `(?:key` in `)?\$\.([^`\[]+)")  # a mapping's key is reported as the mapping
_MISSING = re.compile(r"missing required field `([^`]+)`")
_LE = re.compile(r"<= (\d+)")
_GE = re.compile(r">= (\d+)")
_WRONG_TYPE = re.compile(r"Expected `(str|bytes|int|bool)(?: \| null)?`, got `")
_TYPE_NAMES = {"int": "integer", "bool": "boolean"}


def _field_message(detail: str) -> str:
    missing = _MISSING.search(detail)
    if missing:
        return f"Missing required parameters, The {missing.group(1)} cannot be empty."
    at = _AT.search(detail)
    field = at.group(1) if at else "payload"
    if "got `null`" in detail or "of length >= 1" in detail:
        return f"Missing required parameters, The {field} cannot be empty."
    if any(f"regex {pattern!r}" in detail for pattern in _CONTROL_PATTERNS):
        return f"Parameter invalid, The {field} must not contain control characters."
    if "Invalid base64" in detail:
        return f"Parameter invalid, The {field} not a valid base64 string."
    if "Invalid enum value" in detail:
        return f"Parameter invalid, The {field} type is incorrect."
    wrong_type = _WRONG_TYPE.match(detail)
    if wrong_type:  # optional fields read "Expected `bytes | null`, got `int`"
        kind = _TYPE_NAMES.get(wrong_type.group(1), "string")
        return f"Parameter invalid, The {field} must be of {kind} type."
    if "of length" in detail:
        return f"Parameter invalid, The {field} length error."
    if detail.startswith("Expected `int` <="):
        return f"Parameter invalid, The {field} value must be less than or equal to {_LE.search(detail).group(1)}."  # type: ignore[union-attr]
    if detail.startswith("Expected `int` >="):
        return f"Parameter invalid, The {field} value must be greater than or equal to {_GE.search(detail).group(1)}."  # type: ignore[union-attr]
    return f"Parameter invalid, The {field} format wrong."


def decode_payload(payload: dict[str, Any] | None, struct_type: type[S]) -> S:
    """Convert a request payload into ``struct_type``; ParamError with docs/protocol.md's message on failure."""
    data = payload if payload is not None else {}
    try:
        return msgspec.convert(data, struct_type, str_keys=True)
    except msgspec.ValidationError as exc:
        detail = str(exc)
        raise ParamError(
            _empty_required_message(data, struct_type) or _keyid_message(data, detail) or _field_message(detail)
        ) from None


def _keyid_message(data: dict[str, Any], detail: str) -> str | None:
    """A keyid field that is neither a keyid nor an alias: control characters, else too long for a keyid."""
    if f"regex {KEYID_PATTERN!r}" not in detail:
        return None
    at = _AT.search(detail)
    field = at.group(1) if at else "keyid"
    value = data.get(field)
    if isinstance(value, str) and has_control_chars(value):
        return f"Parameter invalid, The {field} must not contain control characters."
    return f"Parameter invalid, The {field} length error."


def _empty_required_message(data: dict[str, Any], struct_type: type[msgspec.Struct]) -> str | None:
    """A required field sent as "" is reported as empty (as Intel's checker does), whatever its type."""
    for f in msgspec.structs.fields(struct_type):
        if f.required and data.get(f.encode_name) == "":
            return f"Missing required parameters, The {f.encode_name} cannot be empty."
    return None
