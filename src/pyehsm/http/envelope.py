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
    except msgspec.DecodeError:
        raise ParamError("Parameter invalid, The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ParamError("param type error")
    return data


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
