"""The canonical sign string and the HMAC-SHA256 request signature (PROTOCOL.md section 2).

The Intel server (JavaScript) sorts keys, drops values loosely equal to "" (None, "", 0, false, [])
and renders nested objects recursively without braces. The official Python SDK sorts keys, drops only
None, and renders values with ``str()`` through urlencode + unquote_plus (an identity for strings).
For every request the SDKs can send both agree; where they could differ (booleans, zeros, empty
strings) the server accepts a signature made with either rendering.

Pure functions used by the transport (verifying requests), the client (signing them) and VerifyQuote
(signing its answer), so the module sits at the package root like errors.py and clock.py.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Any

ENVELOPE_SIGNED_FIELDS = ("appid", "nonce", "payload", "timestamp")


def _js_string(value: Any) -> str:
    """JavaScript's String(value) for a JSON value (arrays join their items with commas)."""
    if value is None:
        return ""  # only reached for array items: String([null]) is ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join(_js_string(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _js_text(value: Any) -> str:
    # The server renders every object (arrays too: typeof [] is "object") recursively by its keys.
    if isinstance(value, Mapping):
        return canonical_string(value)
    if isinstance(value, list):
        return canonical_string({str(i): v for i, v in enumerate(value)})
    return _js_string(value)


def _js_dropped(value: Any) -> bool:
    # JavaScript's `value == ""` is true for "", 0, false and arrays whose String() is "" ([], [""], [null]),
    # plus absent/null values; objects never equal "".
    if value is None:
        return True
    if isinstance(value, Mapping):
        return False
    return _js_string(value) == "" or (isinstance(value, int | float) and value == 0)


def canonical_string(params: Mapping[str, Any]) -> str:
    """The Intel server's canonical string: sorted ``k=v`` pairs joined by ``&``, nested recursively."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if type(value) is str:  # the common case, kept short: it is on every request's path
            if value:
                parts.append(key + "=" + value)
            continue
        if _js_dropped(value):
            continue
        parts.append(f"{key}={_js_text(value)}")
    return "&".join(parts)


def sdk_canonical_string(params: Mapping[str, Any]) -> str:
    """The official Python SDK's rendering: sorted, drops only None, values through ``str()``."""
    parts = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        text = sdk_canonical_string(value) if isinstance(value, Mapping) else str(value)
        parts.append(f"{key}={text}")
    return "&".join(parts)


def sign_string(apikey: str, message: str) -> str:
    """base64(HMAC-SHA256(apikey, message)), standard alphabet with padding."""
    digest = hmac.digest(apikey.encode("utf-8"), message.encode("utf-8"), "sha256")
    return base64.b64encode(digest).decode("ascii")


def envelope_params(
    appid: str, timestamp: str, payload: Mapping[str, Any] | None, nonce: str | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"appid": appid, "timestamp": timestamp}
    if nonce is not None:
        params["nonce"] = nonce
    if payload is not None:
        params["payload"] = payload
    return params


def sign_request(
    apikey: str, appid: str, timestamp: str, payload: Mapping[str, Any] | None, nonce: str | None = None
) -> str:
    """The signature a client sends for this request (canonical rendering)."""
    return sign_string(apikey, canonical_string(envelope_params(appid, timestamp, payload, nonce)))


def _sdk_needed(value: Any) -> bool:
    """True when the SDK rendering of this tree can differ from the canonical one."""
    if isinstance(value, Mapping):
        return any(_sdk_needed(v) for v in value.values())
    if isinstance(value, bool | float | list):
        return True
    return (isinstance(value, int) and value == 0) or value == ""


def signature_matches(apikey: str, params: Mapping[str, Any], sign: str) -> bool:
    """Constant-time check of ``sign`` against every rendering an official client can produce."""
    given = sign.encode("utf-8")
    expected = sign_string(apikey, canonical_string(params)).encode("ascii")
    ok = hmac.compare_digest(expected, given)
    if not ok and _sdk_needed(params):
        alternative = sign_string(apikey, sdk_canonical_string(params)).encode("ascii")
        ok = hmac.compare_digest(alternative, given)
    return ok
