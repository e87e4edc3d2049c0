"""Request envelope parsing and response rendering (docs/protocol.md sections 1 and 2).

Checks run in the protocol's order; each failure is a code-400 error and nothing is changed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pyehsm.protocols.ehsm.errors import AuthError, ParamError
from pyehsm.protocols.ehsm.signing import envelope_params
from pyehsm.protocols.ehsm.validation import has_control_chars

TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
MAX_NONCE_CHARS = 64
MAX_PAYLOAD_DEPTH = 16  # nesting levels below the payload object; bounds every recursive walk of it
NOT_JSON = "Parameter invalid, The request body is not valid JSON."
APPID_CONTROL = "Parameter invalid, The appid must not contain control characters."

_json_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()
_CONTAINERS = (dict, list)


class Envelope(msgspec.Struct, frozen=True):
    appid: str
    timestamp: str
    nonce: str | None
    payload: dict[str, Any] | None
    sign: str
    action: str | None = None  # pyehsm's signed-action form; absent in Intel's clients' requests

    def signed_params(self) -> dict[str, Any]:
        """The object the signature covers: {appid, nonce, timestamp, payload} as received, plus
        ``action`` when the client signed it (docs/operations.md, "Signed actions")."""
        return envelope_params(self.appid, self.timestamp, self.payload, self.nonce, self.action)


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


def _too_deep(payload: dict[str, Any]) -> bool:
    for value in payload.values():
        if type(value) in _CONTAINERS:  # real payloads hold only strings and numbers: walk only when needed
            return _nesting_depth_exceeds(payload, MAX_PAYLOAD_DEPTH)
    return False


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = _json_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # invalid UTF-8 surfaces as UnicodeDecodeError and very deep nesting as RecursionError
        raise ParamError(NOT_JSON) from None
    if type(data) is not dict:
        raise ParamError("param type error")
    return data


def parse_envelope(body: bytes, now_ms: int) -> Envelope:
    data = _decode(body)
    get = data.get
    appid, timestamp, sign, nonce, payload = get("appid"), get("timestamp"), get("sign"), get("nonce"), get("payload")
    if appid is None or appid == "" or timestamp is None or timestamp == "" or sign is None or sign == "":
        raise ParamError("Missing required parameters")
    if type(appid) is not str or type(timestamp) is not str or type(sign) is not str:
        raise ParamError("param type error")
    if has_control_chars(appid):  # never looked up: PostgreSQL text cannot hold NUL, and no appid has one
        raise ParamError(APPID_CONTROL)
    action = get("action")
    if action is not None and type(action) is not str:
        raise ParamError("param type error")
    if payload is not None:
        if type(payload) is not dict:
            raise ParamError("param type error")
        if _too_deep(payload):
            raise ParamError("Parameter invalid, The payload is nested too deeply.")
    if nonce is not None:
        if type(nonce) is not str:
            raise ParamError("param type error")
        if len(nonce) > MAX_NONCE_CHARS:
            raise ParamError("Nonce length error")
    if len(timestamp) != 13:
        raise AuthError("Timestamp length error")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise AuthError("Timestamp error")
    if abs(now_ms - int(timestamp)) >= TIMESTAMP_WINDOW_MS:
        raise AuthError("Timestamp error")
    return Envelope(appid, timestamp, nonce or None, payload, sign, action)


def render(code: int, message: str, result: Any) -> bytes:
    """The response body: always {code, message, result}, result an object (possibly empty)."""
    return _json_encoder.encode({"code": code, "message": message, "result": result})
