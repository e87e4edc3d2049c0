"""The canonical sign string and the request signature (docs/protocol.md section 2).

Expected strings are written out by hand. Two independent oracles written here (never the code under
test) cover the rest: the official Python SDK's algorithm (sorted, drops None, urlencode +
unquote_plus of str(value)) and the Intel server's JavaScript ``params_sort_str`` with JavaScript's
loose-equality rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote_plus, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.protocols.ehsm.signing import (
    canonical_string,
    envelope_params,
    hmac_sha256,
    sdk_canonical_string,
    sign_request,
    sign_string,
    signature_matches,
)
from tests.vectors import wycheproof_cases

APPID = "8b4c1b8e-6f2a-4c1e-9d3b-2f0e5a7c9d10"
TS = "1700000000000"
APIKEY = "Zx9wQ4rT7yU2iO5pA8sD1fG3hJ6kL0mN"
KEYID = "2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e2f"


def hmac_b64(apikey: str, message: str) -> str:
    return base64.b64encode(hmac.new(apikey.encode(), message.encode(), hashlib.sha256).digest()).decode()


def envelope(payload: dict[str, Any] | None, nonce: str | None = None) -> dict[str, Any]:
    return envelope_params(APPID, TS, payload, nonce)


# ------------------------------------------------------------------------------------------------
# oracles
# ------------------------------------------------------------------------------------------------


def sdk_oracle(appid: str, timestamp: str, payload: dict[str, Any] | None) -> str:
    """The official Python SDK (ehsm 0.0.1, utils.prepare_params), reimplemented."""

    def params_sort_str(params: dict[str, Any]) -> str:
        items = filter(lambda it: it[1] is not None, params.items())
        return unquote_plus(urlencode(OrderedDict(sorted(items, key=lambda k: k[0]))))

    params: dict[str, Any] = OrderedDict()
    params["appid"] = appid
    params["timestamp"] = timestamp
    if payload is not None:
        params["payload"] = params_sort_str(payload)
    return params_sort_str(params)


def _js_join(items: list[Any]) -> str:
    # Array.prototype.join: null/undefined items become "".
    return ",".join("" if item is None else _js_string(item) for item in items)


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _js_join(value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript numbers: 2.0 prints as "2"
    return str(value)


def _js_loosely_equals_empty(value: Any) -> bool:
    """JavaScript ``value == ''`` for a JSON value (null is handled by ``!= null``)."""
    if isinstance(value, bool):
        return value is False  # ToNumber(false) == ToNumber('') == 0
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        return value == ""
    if isinstance(value, list):
        return _js_join(value) == ""  # ToPrimitive(array) is its join
    return False  # "[object Object]" != ""


def js_oracle(obj: dict[str, Any] | list[Any]) -> str:
    """Intel's params_sort_str: sorted keys, skip `v != '' && v != undefined && v != null` failures,
    recurse into anything whose typeof is "object" (arrays included, by their index keys)."""
    mapping = {str(i): v for i, v in enumerate(obj)} if isinstance(obj, list) else obj
    out = ""
    for key in sorted(mapping):
        value = mapping[key]
        if value is None or _js_loosely_equals_empty(value):
            continue
        text = js_oracle(value) if isinstance(value, dict | list) else _js_string(value)
        out += ("&" if out else "") + key + "=" + text
    return out


# ------------------------------------------------------------------------------------------------
# fixed vectors, written by hand
# ------------------------------------------------------------------------------------------------

ENCRYPT_PAYLOAD = {"keyid": KEYID, "plaintext": "SGVsbG8gd29ybGQ=", "aad": "YWFk"}
ENCRYPT_STRING = f"appid={APPID}&payload=aad=YWFk&keyid={KEYID}&plaintext=SGVsbG8gd29ybGQ=&timestamp={TS}"
# HMAC-SHA256(APIKEY, ENCRYPT_STRING), standard base64: a known answer pinned once.
ENCRYPT_SIGN = "Uuin6CWlhmJ6SfHeWx/6aR8TCeVeixzHrQSolWnrmH8="

SPECIAL = "a+b/c=d&e%f g"
UNICODE = "héllo 世界 🔑"

FIXED_VECTORS: list[tuple[str, dict[str, Any] | None, str | None, str]] = [
    ("encrypt", ENCRYPT_PAYLOAD, None, ENCRYPT_STRING),
    ("no payload", None, None, f"appid={APPID}&timestamp={TS}"),
    ("empty payload", {}, None, f"appid={APPID}&payload=&timestamp={TS}"),
    (
        "nonce",
        {"keyid": KEYID},
        "n0nce",
        f"appid={APPID}&nonce=n0nce&payload=keyid={KEYID}&timestamp={TS}",
    ),
    (
        "nested",
        {"z": {"b": "2", "a": {"y": "1", "x": "0"}}, "m": "q"},
        None,
        f"appid={APPID}&payload=m=q&z=a=x=0&y=1&b=2&timestamp={TS}",
    ),
    (
        "special characters stay literal",
        {"s": SPECIAL, "u": UNICODE},
        None,
        f"appid={APPID}&payload=s=a+b/c=d&e%f g&u=héllo 世界 🔑&timestamp={TS}",
    ),
    (
        "code point order",
        {"b": "5", "a_b": "6", "ab": "7", "B": "2", "_": "3", "A1": "1", "a": "4"},
        None,
        f"appid={APPID}&payload=A1=1&B=2&_=3&a=4&a_b=6&ab=7&b=5&timestamp={TS}",
    ),
    (
        "numbers and booleans",
        {
            "t": True,
            "f": False,
            "zero": 0,
            "zf": 0.0,
            "n": 42,
            "neg": -7,
            "fl": 1.5,
            "whole": 2.0,
            "empty": "",
            "none": None,
            "list": [],
            "s": "0",
        },
        None,
        f"appid={APPID}&payload=fl=1.5&n=42&neg=-7&s=0&t=true&whole=2&timestamp={TS}",
    ),
    (
        "arrays render by index",
        {"l": ["x", "y"], "e": [""], "n": [None], "z": [0], "k": list("abcdefghijk")},
        None,
        f"appid={APPID}&payload=k=0=a&1=b&10=k&2=c&3=d&4=e&5=f&6=g&7=h&8=i&9=j&l=0=x&1=y&z=&timestamp={TS}",
    ),
]


@pytest.mark.parametrize(
    ("payload", "nonce", "expected"), [v[1:] for v in FIXED_VECTORS], ids=[v[0] for v in FIXED_VECTORS]
)
def test_canonical_string_fixed_vectors(payload: dict[str, Any] | None, nonce: str | None, expected: str) -> None:
    assert canonical_string(envelope(payload, nonce)) == expected
    assert js_oracle(envelope(payload, nonce)) == expected  # the oracle agrees with the hand-written string


def test_known_answer_signature() -> None:
    assert hmac_b64(APIKEY, ENCRYPT_STRING) == ENCRYPT_SIGN
    assert sign_string(APIKEY, ENCRYPT_STRING) == ENCRYPT_SIGN
    assert sign_request(APIKEY, APPID, TS, ENCRYPT_PAYLOAD) == ENCRYPT_SIGN
    assert signature_matches(APIKEY, envelope(ENCRYPT_PAYLOAD), ENCRYPT_SIGN)


def test_sdk_oracle_matches_hand_written_strings() -> None:
    # For what the SDK actually sends (strings, positive integers) its rendering is the canonical one.
    assert sdk_oracle(APPID, TS, ENCRYPT_PAYLOAD) == ENCRYPT_STRING
    payload = {"keyid": KEYID, "keylen": 1024, "aad": SPECIAL, "note": UNICODE}
    expected = f"appid={APPID}&payload=aad={SPECIAL}&keyid={KEYID}&keylen=1024&note={UNICODE}&timestamp={TS}"
    assert sdk_oracle(APPID, TS, payload) == expected
    assert canonical_string(envelope(payload)) == expected
    assert sdk_oracle(APPID, TS, None) == f"appid={APPID}&timestamp={TS}"
    assert sdk_oracle(APPID, TS, {}) == f"appid={APPID}&payload=&timestamp={TS}"


def test_sdk_rendering_of_booleans_zeros_and_empty_strings_differs_and_is_accepted() -> None:
    payload = {"flag": True, "off": False, "count": 0, "empty": "", "skip": None, "keyid": KEYID}
    sdk = sdk_oracle(APPID, TS, payload)
    assert sdk == f"appid={APPID}&payload=count=0&empty=&flag=True&keyid={KEYID}&off=False&timestamp={TS}"
    assert sdk_canonical_string(envelope(payload)) == sdk
    js = f"appid={APPID}&payload=flag=true&keyid={KEYID}&timestamp={TS}"
    assert canonical_string(envelope(payload)) == js
    assert signature_matches(APIKEY, envelope(payload), hmac_b64(APIKEY, sdk))
    assert signature_matches(APIKEY, envelope(payload), hmac_b64(APIKEY, js))
    assert not signature_matches(APIKEY, envelope(payload), hmac_b64(APIKEY, js + "x"))


def test_signature_rejects_every_single_character_change() -> None:
    params = envelope(ENCRYPT_PAYLOAD)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    for i, char in enumerate(ENCRYPT_SIGN):
        other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        flipped = ENCRYPT_SIGN[:i] + other + ENCRYPT_SIGN[i + 1 :]
        assert not signature_matches(APIKEY, params, flipped), i
    assert not signature_matches(APIKEY, params, ENCRYPT_SIGN[:-1])
    assert not signature_matches(APIKEY, params, ENCRYPT_SIGN + "=")
    assert not signature_matches(APIKEY, params, "")
    assert not signature_matches(APIKEY, params, "é" * 44)


def test_signature_is_case_sensitive() -> None:
    params = envelope(ENCRYPT_PAYLOAD)
    # The reference's examples (and an old SDK) upper-case the signature: not accepted.
    assert ENCRYPT_SIGN.upper() != ENCRYPT_SIGN
    assert not signature_matches(APIKEY, params, ENCRYPT_SIGN.upper())
    assert not signature_matches(APIKEY, params, ENCRYPT_SIGN.lower())
    assert not signature_matches(APIKEY, params, ENCRYPT_SIGN.swapcase())


def test_signature_covers_every_field_and_the_apikey() -> None:
    params = envelope(ENCRYPT_PAYLOAD)
    assert not signature_matches(APIKEY + "x", params, ENCRYPT_SIGN)
    assert not signature_matches(APIKEY, {**params, "timestamp": "1700000000001"}, ENCRYPT_SIGN)
    assert not signature_matches(APIKEY, {**params, "appid": APPID.replace("8", "9")}, ENCRYPT_SIGN)
    assert not signature_matches(APIKEY, {**params, "nonce": "n"}, ENCRYPT_SIGN)
    assert not signature_matches(APIKEY, {**params, "payload": {**ENCRYPT_PAYLOAD, "aad": "YWFl"}}, ENCRYPT_SIGN)
    assert not signature_matches(APIKEY, {**params, "payload": {**ENCRYPT_PAYLOAD, "x": "1"}}, ENCRYPT_SIGN)


# ------------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
json_payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=6)

# What the official SDK can send: flat objects of strings and positive integers.
sdk_values = st.text(min_size=1, max_size=40) | st.integers(1, 2**31)
sdk_payloads = st.dictionaries(st.text(min_size=1, max_size=10), sdk_values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(payload=json_payloads, nonce=st.none() | st.text(min_size=1, max_size=64))
def test_canonical_string_is_the_js_servers_string(payload: dict[str, Any], nonce: str | None) -> None:
    params = envelope(payload, nonce)
    assert canonical_string(params) == js_oracle(params)


@settings(max_examples=150, deadline=None)
@given(payload=sdk_payloads)
def test_sdk_requests_round_trip(payload: dict[str, Any]) -> None:
    sdk_string = sdk_oracle(APPID, TS, payload)
    assert canonical_string(envelope(payload)) == sdk_string
    assert signature_matches(APIKEY, envelope(payload), hmac_b64(APIKEY, sdk_string))


@settings(max_examples=150, deadline=None)
@given(payload=json_payloads, nonce=st.none() | st.text(min_size=1, max_size=64))
def test_sign_request_round_trips_through_signature_matches(payload: dict[str, Any], nonce: str | None) -> None:
    sign = sign_request(APIKEY, APPID, TS, payload, nonce)
    assert signature_matches(APIKEY, envelope(payload, nonce), sign)
    assert not signature_matches(APIKEY + "!", envelope(payload, nonce), sign)
    assert not signature_matches(APIKEY, envelope(payload, nonce), sign.swapcase())


@pytest.mark.parametrize(
    ("group", "case"), wycheproof_cases("hmac_sha256_test"), ids=lambda v: str(v.get("tcId", "")) if "tcId" in v else ""
)
def test_hmac_sha256_matches_wycheproof(group: dict[str, Any], case: dict[str, Any]) -> None:
    tag = hmac_sha256(bytes.fromhex(case["key"]), bytes.fromhex(case["msg"]))[: group["tagSize"] // 8]
    assert (tag == bytes.fromhex(case["tag"])) is (case["result"] == "valid")


@settings(max_examples=300)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_sha256_equals_the_standard_library(key: bytes, message: bytes) -> None:
    # keys longer than the 64-byte block are hashed first; the same key twice reuses its cached states
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
    assert hmac_sha256(key, message + b"!") == hmac.digest(key, message + b"!", "sha256")
