"""The canonical sign string and the HMAC-SHA256 request signature (docs/protocol.md section 2).

The Intel server (JavaScript) sorts keys, drops values loosely equal to "" (None, "", 0, false, [])
and renders nested objects recursively without braces. The official Python SDK sorts keys, drops only
None, and renders values with ``str()`` through urlencode + unquote_plus (an identity for strings).
For every request the SDKs can send both agree; where they could differ (booleans, zeros, empty
strings) the server accepts a signature made with either rendering.

Pure functions used by the transport (verifying requests), the client (signing them) and VerifyQuote
(signing its answer), so the module sits at the package root like errors/ and clock.py.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

ENVELOPE_SIGNED_FIELDS = ("action", "appid", "nonce", "payload", "timestamp")  # action: pyehsm's opt-in form


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
        kind = type(value)
        if kind is str:  # the common cases first, kept short: they are on every request's path
            if value:
                parts.append(key + "=" + value)
            continue
        if kind is int:  # not bool (type() is exact); JavaScript drops 0 (0 == "") and renders String(n)
            if value:
                parts.append(key + "=" + str(value))
            continue
        if kind is dict:  # an object is never dropped (in JavaScript, {} == "" is false)
            parts.append(key + "=" + canonical_string(value))
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
    mac = hmac_sha256(apikey.encode("utf-8"), message.encode("utf-8"))
    return binascii.b2a_base64(mac, newline=False).decode("ascii")


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_PADDED_KEYS_CACHED = 4096
_padded_keys: dict[bytes, tuple[hashlib._Hash, hashlib._Hash]] = {}


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), equal to ``hmac.digest(key, message, "sha256")``. The two padded-key
    SHA-256 states are kept per key (apikeys: a few per app), so a request costs two hash-state copies
    instead of an HMAC setup, which was most of the signature check's time."""
    states = _padded_keys.get(key)
    if states is None:
        raw = key
        if len(raw) > _BLOCK:
            raw = hashlib.sha256(raw).digest()
        raw = raw.ljust(_BLOCK, b"\0")
        states = (hashlib.sha256(raw.translate(_IPAD)), hashlib.sha256(raw.translate(_OPAD)))
        if len(_padded_keys) >= _PADDED_KEYS_CACHED:
            _padded_keys.clear()
        _padded_keys[key] = states
    inner = states[0].copy()
    inner.update(message)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def envelope_params(
    appid: str,
    timestamp: str,
    payload: Mapping[str, Any] | None,
    nonce: str | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    """The object a request's signature covers. ``action`` (pyehsm's signed-action form, docs/operations.md)
    is present only when the client put it in the envelope; Intel's clients never do."""
    params: dict[str, Any] = {"appid": appid, "timestamp": timestamp}
    if action is not None:
        params["action"] = action
    if nonce is not None:
        params["nonce"] = nonce
    if payload is not None:
        params["payload"] = payload
    return params


def sign_request(
    apikey: str,
    appid: str,
    timestamp: str,
    payload: Mapping[str, Any] | None,
    nonce: str | None = None,
    action: str | None = None,
) -> str:
    """The signature a client sends for this request (canonical rendering)."""
    return sign_string(apikey, canonical_string(envelope_params(appid, timestamp, payload, nonce, action)))


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
