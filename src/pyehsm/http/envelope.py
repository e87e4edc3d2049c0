"""Request envelope parsing and response rendering (PROTOCOL.md sections 1 and 2).

Checks run in the protocol's order; each failure is a code-400 error and nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from pyehsm.errors import AuthError, ParamError

TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
MAX_NONCE_CHARS = 64
MAX_PAYLOAD_DEPTH = 16  # nesting levels below the payload object; bounds every recursive walk of it
NOT_JSON = "Parameter invalid, The request body is not valid JSON."

_json_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Envelope:
    appid: str
    timestamp: str
    nonce: str | None
    payload: dict[str, Any] | None
    sign: str

    def signed_params(self) -> dict[str, Any]:
        """The object the signature covers: {appid, nonce, timestamp, payload} as received."""
        params: dict[str, Any] = {"appid": self.appid, "timestamp": self.timestamp}
        if self.nonce is not None:
            params["nonce"] = self.nonce
        if self.payload is not None:
            params["payload"] = self.payload
        return params


def decode_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = _json_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # invalid UTF-8 surfaces as UnicodeDecodeError and very deep nesting as RecursionError
        raise ParamError(NOT_JSON) from None
    if not isinstance(data, dict):
        raise ParamError("param type error")
    return data


def _has_containers(payload: dict[str, Any]) -> bool:
    """Cheap pre-check: real payloads hold only strings and numbers."""
    return any(type(v) is dict or type(v) is list for v in payload.values())


def _nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests objects/arrays more than ``limit`` levels deep (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_envelope(body: bytes, now_ms: int) -> Envelope:
    data = decode_json_object(body)
    appid, timestamp, sign = data.get("appid"), data.get("timestamp"), data.get("sign")
    if appid in (None, "") or timestamp in (None, "") or sign in (None, ""):
        raise ParamError("Missing required parameters")
    nonce = data.get("nonce")
    payload = data.get("payload")
    if not (isinstance(appid, str) and isinstance(timestamp, str) and isinstance(sign, str)):
        raise ParamError("param type error")
    if payload is not None and not isinstance(payload, dict):
        raise ParamError("param type error")
    if payload is not None and _has_containers(payload) and _nesting_depth_exceeds(payload, MAX_PAYLOAD_DEPTH):
        raise ParamError("Parameter invalid, The payload is nested too deeply.")
    if nonce is not None and not isinstance(nonce, str):
        raise ParamError("param type error")
    if nonce is not None and len(nonce) > MAX_NONCE_CHARS:
        raise ParamError("Nonce length error")
    if len(timestamp) != 13:
        raise AuthError("Timestamp length error")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise AuthError("Timestamp error")
    if abs(now_ms - int(timestamp)) >= TIMESTAMP_WINDOW_MS:
        raise AuthError("Timestamp error")
    return Envelope(appid=appid, timestamp=timestamp, nonce=nonce or None, payload=payload, sign=sign)


def render(code: int, message: str, result: Any) -> bytes:
    """The response body: always {code, message, result}, result an object (possibly empty)."""
    return _json_encoder.encode({"code": code, "message": message, "result": result})
