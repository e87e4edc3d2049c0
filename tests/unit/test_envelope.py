"""Request envelope checks in docs/protocol.md section 2's order, with its exact messages, and rendering."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.protocols.ehsm.envelope import parse_envelope, render
from pyehsm.protocols.ehsm.errors import AuthError, EhsmError, ParamError

NOW = 1_700_000_000_000
TEN_MINUTES = 600_000
APPID = "8b4c1b8e-6f2a-4c1e-9d3b-2f0e5a7c9d10"
SIGN = "Uuin6CWlhmJ6SfHeWx/6aR8TCeVeixzHrQSolWnrmH8="

MISSING = "Missing required parameters"
TYPE = "param type error"
NONCE = "Nonce length error"
TS_LENGTH = "Timestamp length error"
TS = "Timestamp error"
NOT_JSON = "Parameter invalid, The request body is not valid JSON."


def body(**fields: Any) -> bytes:
    base: dict[str, Any] = {"appid": APPID, "timestamp": str(NOW), "sign": SIGN, "payload": {"keyid": "k"}}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def error_of(raw: bytes, now: int = NOW) -> EhsmError:
    with pytest.raises(EhsmError) as info:
        parse_envelope(raw, now)
    assert info.value.code == 400
    return info.value


def test_valid_envelope() -> None:
    env = parse_envelope(body(nonce="abc"), NOW)
    assert (env.appid, env.timestamp, env.nonce, env.payload, env.sign) == (
        APPID,
        str(NOW),
        "abc",
        {"keyid": "k"},
        SIGN,
    )
    assert env.signed_params() == {"appid": APPID, "timestamp": str(NOW), "nonce": "abc", "payload": {"keyid": "k"}}
    bare = parse_envelope(body(payload=...), NOW)
    assert bare.payload is None and bare.nonce is None
    assert bare.signed_params() == {"appid": APPID, "timestamp": str(NOW)}


@pytest.mark.parametrize("field", ["appid", "timestamp", "sign"])
@pytest.mark.parametrize("value", [..., None, ""], ids=["absent", "null", "empty"])
def test_missing_required_parameters(field: str, value: Any) -> None:
    err = error_of(body(**{field: value}))
    assert isinstance(err, ParamError)
    assert err.message == MISSING


@pytest.mark.parametrize(
    "fields",
    [
        {"appid": 123},
        {"appid": ["a"]},
        {"timestamp": NOW},  # a number, not a string
        {"sign": {"a": 1}},
        {"sign": True},
        {"payload": "keyid=k"},
        {"payload": ["keyid"]},
        {"payload": 1},
        {"nonce": 5},
    ],
)
def test_param_type_error(fields: dict[str, Any]) -> None:
    assert error_of(body(**fields)).message == TYPE


def test_body_that_is_json_but_not_an_object() -> None:
    for raw in (b"[]", b'"x"', b"1", b"null"):
        assert error_of(raw).message == TYPE


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{", b'{"appid": }', b"\xff\xfe{}", b'{"a": "\xff"}', b"[" * 5000, b'{"a":1e400}'],
    ids=["empty", "text", "truncated", "syntax", "bom-ish", "bad-utf8", "deep", "huge-number"],
)
def test_non_json_body(raw: bytes) -> None:
    err = error_of(raw)
    assert isinstance(err, ParamError)
    assert err.message == NOT_JSON


def test_nonce_length() -> None:
    assert parse_envelope(body(nonce="n" * 64), NOW).nonce == "n" * 64
    assert error_of(body(nonce="n" * 65)).message == NONCE


FULLWIDTH_13 = "".join(chr(0xFF10 + int(d)) for d in str(NOW))  # 13 non-ASCII digits


@pytest.mark.parametrize("timestamp", [str(NOW)[:-1], str(NOW) + "0", "1", FULLWIDTH_13[:12]])
def test_timestamp_length(timestamp: str) -> None:
    err = error_of(body(timestamp=timestamp))
    assert isinstance(err, AuthError)
    assert err.message == TS_LENGTH


@pytest.mark.parametrize("timestamp", ["17000000000x0", "-170000000000", "1700000000.00", FULLWIDTH_13])
def test_timestamp_not_a_number(timestamp: str) -> None:
    assert len(timestamp) == 13
    assert error_of(body(timestamp=timestamp)).message == TS


def test_timestamp_window_boundaries() -> None:
    # |now - timestamp| >= 10 minutes is refused; one millisecond inside is accepted.
    for offset in (-TEN_MINUTES + 1, 0, TEN_MINUTES - 1):
        assert parse_envelope(body(timestamp=str(NOW + offset)), NOW).timestamp == str(NOW + offset)
    for offset in (-TEN_MINUTES, TEN_MINUTES, -22 * 60_000, 22 * 60_000):
        err = error_of(body(timestamp=str(NOW + offset)))
        assert isinstance(err, AuthError)
        assert err.message == TS


def test_checks_run_in_protocol_order() -> None:
    # missing beats type, type beats nonce, nonce beats timestamp length, length beats window
    assert error_of(body(appid="", sign=5)).message == MISSING
    assert error_of(body(sign=5, nonce="n" * 65)).message == TYPE
    assert error_of(body(nonce="n" * 65, timestamp="1")).message == NONCE
    assert error_of(body(timestamp="1")).message == TS_LENGTH
    assert error_of(body(timestamp=str(NOW - 3 * TEN_MINUTES))).message == TS


def test_payload_nesting_is_bounded() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth):
            value = {"a": value}
        return value

    assert parse_envelope(body(payload=nested(16)), NOW).payload is not None
    assert error_of(body(payload=nested(17))).message == "Parameter invalid, The payload is nested too deeply."
    deep_list: Any = []
    for _ in range(40):
        deep_list = [deep_list]
    assert error_of(body(payload={"keyid": "k", "x": deep_list})).message.startswith("Parameter invalid")


def test_render_always_has_code_message_result() -> None:
    assert msgspec.json.decode(render(200, "successful", {"a": 1})) == {
        "code": 200,
        "message": "successful",
        "result": {"a": 1},
    }
    assert msgspec.json.decode(render(400, "sign error", {})) == {"code": 400, "message": "sign error", "result": {}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "appid": json_values | st.just(APPID),
        "timestamp": json_values | st.integers(NOW - 2 * TEN_MINUTES, NOW + 2 * TEN_MINUTES).map(str),
        "nonce": json_values,
        "sign": json_values | st.just(SIGN),
        "payload": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_ehsm_errors(raw: bytes) -> None:
    try:
        parse_envelope(raw, NOW)
    except EhsmError as exc:
        assert exc.code == 400


@settings(max_examples=200, deadline=None)
@given(data=envelope_like)
def test_arbitrary_json_raises_only_ehsm_errors(data: dict[str, Any]) -> None:
    try:
        env = parse_envelope(msgspec.json.encode(data), NOW)
    except EhsmError as exc:
        assert exc.code == 400
        assert exc.message in {MISSING, TYPE, NONCE, TS_LENGTH, TS, NOT_JSON} or exc.message.startswith("Parameter")
    else:
        assert isinstance(env.appid, str) and env.appid
        assert len(env.timestamp) == 13
        assert env.payload is None or isinstance(env.payload, dict)
