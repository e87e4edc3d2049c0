"""Payload validation: every kind of bad field maps to docs/protocol.md section 4's message."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.protocols.ehsm.actions.keys import CreateKeyPayload, KeyIdPayload
from pyehsm.protocols.ehsm.actions.symmetric import DecryptPayload, EncryptPayload, GenerateDataKeyPayload
from pyehsm.protocols.ehsm.errors import ParamError
from pyehsm.protocols.ehsm.table import ACTIONS
from pyehsm.protocols.ehsm.validation import MAX_DATA_BYTES, decode_payload

KEYID = "2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e2f"
HI = base64.b64encode(b"hi").decode()


class Sample(msgspec.Struct):
    """A payload exercising every field kind with limits that differ from the real actions'."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=5)]
    count: Annotated[int, msgspec.Meta(ge=5, le=77)]
    kind: Literal["ONE", "TWO"]
    blob: Annotated[bytes, msgspec.Meta(min_length=1, max_length=4)]
    extra: Annotated[str, msgspec.Meta(max_length=3)] | None = None
    opt_blob: Annotated[bytes, msgspec.Meta(max_length=4)] | None = None
    opt_count: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    opt_kind: Literal["ONE", "TWO"] | None = None


GOOD = {"name": "abc", "count": 5, "kind": "ONE", "blob": HI}


def message(payload: dict[str, Any] | None, struct: type[msgspec.Struct] = Sample) -> str:
    with pytest.raises(ParamError) as info:
        decode_payload(payload, struct)
    assert info.value.code == 400
    return info.value.message


def test_valid_payload_and_unknown_fields_ignored() -> None:
    decoded = decode_payload({**GOOD, "unknown": [1, {"x": None}]}, Sample)
    assert decoded == Sample(name="abc", count=5, kind="ONE", blob=b"hi")
    assert decode_payload({**GOOD, "extra": None}, Sample).extra is None
    optional = decode_payload({**GOOD, "opt_blob": None, "opt_count": None, "opt_kind": None}, Sample)
    assert (optional.opt_blob, optional.opt_count, optional.opt_kind) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # missing, empty, null
        ({"name": ...}, "Missing required parameters, The name cannot be empty."),
        ({"name": ""}, "Missing required parameters, The name cannot be empty."),
        ({"name": None}, "Missing required parameters, The name cannot be empty."),
        ({"count": None}, "Missing required parameters, The count cannot be empty."),
        ({"count": ""}, "Missing required parameters, The count cannot be empty."),
        ({"kind": ""}, "Missing required parameters, The kind cannot be empty."),
        ({"blob": ""}, "Missing required parameters, The blob cannot be empty."),
        # wrong type
        ({"name": 5}, "Parameter invalid, The name must be of string type."),
        ({"name": True}, "Parameter invalid, The name must be of string type."),
        ({"name": ["a"]}, "Parameter invalid, The name must be of string type."),
        ({"blob": 12}, "Parameter invalid, The blob must be of string type."),
        ({"blob": {"a": "b"}}, "Parameter invalid, The blob must be of string type."),
        ({"extra": 1}, "Parameter invalid, The extra must be of string type."),
        ({"opt_blob": 1}, "Parameter invalid, The opt_blob must be of string type."),
        ({"opt_blob": [1]}, "Parameter invalid, The opt_blob must be of string type."),
        ({"opt_kind": 1}, "Parameter invalid, The opt_kind must be of string type."),
        ({"opt_count": "1"}, "Parameter invalid, The opt_count must be of integer type."),
        ({"opt_count": False}, "Parameter invalid, The opt_count must be of integer type."),
        ({"opt_count": 2.5}, "Parameter invalid, The opt_count must be of integer type."),
        ({"opt_count": 366}, "Parameter invalid, The opt_count value must be less than or equal to 365."),
        ({"opt_count": 0}, "Parameter invalid, The opt_count value must be greater than or equal to 1."),
        ({"opt_kind": "THREE"}, "Parameter invalid, The opt_kind type is incorrect."),
        ({"opt_blob": "aGk"}, "Parameter invalid, The opt_blob not a valid base64 string."),
        ({"opt_blob": "aGVsbG8="}, "Parameter invalid, The opt_blob length error."),
        ({"count": "5"}, "Parameter invalid, The count must be of integer type."),
        ({"count": True}, "Parameter invalid, The count must be of integer type."),  # bool is not an int
        ({"count": 5.5}, "Parameter invalid, The count must be of integer type."),
        ({"count": [5]}, "Parameter invalid, The count must be of integer type."),
        # too long
        ({"name": "abcdef"}, "Parameter invalid, The name length error."),
        ({"extra": "abcd"}, "Parameter invalid, The extra length error."),
        ({"blob": base64.b64encode(b"12345").decode()}, "Parameter invalid, The blob length error."),
        # out of range, with N
        ({"count": 4}, "Parameter invalid, The count value must be greater than or equal to 5."),
        ({"count": -(10**30)}, "Parameter invalid, The count value must be greater than or equal to 5."),
        ({"count": 78}, "Parameter invalid, The count value must be less than or equal to 77."),
        ({"count": 10**30}, "Parameter invalid, The count value must be less than or equal to 77."),
        # bad enum
        ({"kind": "THREE"}, "Parameter invalid, The kind type is incorrect."),
        ({"kind": "one"}, "Parameter invalid, The kind type is incorrect."),
        ({"kind": 1}, "Parameter invalid, The kind must be of string type."),
        # bad base64: missing padding, URL-safe alphabet, whitespace, junk
        ({"blob": "aGk"}, "Parameter invalid, The blob not a valid base64 string."),
        ({"blob": "a-k_"}, "Parameter invalid, The blob not a valid base64 string."),
        ({"blob": "aGk=\n"}, "Parameter invalid, The blob not a valid base64 string."),
        ({"blob": "aG k="}, "Parameter invalid, The blob not a valid base64 string."),
        ({"blob": "%%%%"}, "Parameter invalid, The blob not a valid base64 string."),
    ],
)
def test_messages(change: dict[str, Any], expected: str) -> None:
    payload = {k: v for k, v in {**GOOD, **change}.items() if v is not ...}
    assert message(payload) == expected


def test_missing_payload_reports_the_first_required_field() -> None:
    assert message(None) == "Missing required parameters, The name cannot be empty."
    assert message({}) == "Missing required parameters, The name cannot be empty."


def test_real_action_payloads() -> None:
    assert message({"plaintext": HI}, EncryptPayload) == "Missing required parameters, The keyid cannot be empty."
    assert message({"keyid": KEYID}, EncryptPayload) == "Missing required parameters, The plaintext cannot be empty."
    too_long = base64.b64encode(b"x" * (MAX_DATA_BYTES + 1)).decode()
    assert message({"keyid": KEYID, "plaintext": too_long}, EncryptPayload) == (
        "Parameter invalid, The plaintext length error."
    )
    biggest = base64.b64encode(b"x" * MAX_DATA_BYTES).decode()
    assert decode_payload({"keyid": KEYID, "plaintext": biggest}, EncryptPayload).plaintext == b"x" * MAX_DATA_BYTES
    assert message({"keyid": KEYID, "plaintext": HI, "aad": too_long}, EncryptPayload) == (
        "Parameter invalid, The aad length error."
    )
    assert message({"keyid": KEYID, "ciphertext": "@@@@"}, DecryptPayload) == (
        "Parameter invalid, The ciphertext not a valid base64 string."
    )
    assert message({"keyid": KEYID, "keylen": 0}, GenerateDataKeyPayload) == (
        "Parameter invalid, The keylen value must be greater than or equal to 1."
    )
    assert message({"keyid": KEYID, "keylen": 1025}, GenerateDataKeyPayload) == (
        "Parameter invalid, The keylen value must be less than or equal to 1024."
    )
    assert message({"keyid": KEYID, "keylen": "16"}, GenerateDataKeyPayload) == (
        "Parameter invalid, The keylen must be of integer type."
    )
    for keylen in (1, 1024):
        assert decode_payload({"keyid": KEYID, "keylen": keylen}, GenerateDataKeyPayload).keylen == keylen
    assert message({"keyspec": "EH_AES_GCM_512", "origin": "EH_INTERNAL_KEY"}, CreateKeyPayload) == (
        "Parameter invalid, The keyspec type is incorrect."
    )
    assert message({"keyspec": "", "origin": "EH_INTERNAL_KEY"}, CreateKeyPayload) == (
        "Missing required parameters, The keyspec cannot be empty."
    )
    assert message({"keyspec": "EH_SM2", "origin": "EH_IMPORTED_KEY"}, CreateKeyPayload) == (
        "Parameter invalid, The origin type is incorrect."
    )
    assert message(
        {"keyspec": "EH_SM2", "origin": "EH_INTERNAL_KEY", "keyusage": "EH_KEYUSAGE_ALL"}, CreateKeyPayload
    ) == ("Parameter invalid, The keyusage type is incorrect.")
    assert message({"keyid": 7}, KeyIdPayload) == "Parameter invalid, The keyid must be of string type."
    assert message({"keyid": "k" * 65}, KeyIdPayload) == "Parameter invalid, The keyid length error."


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)
b64_text = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
field_values = json_values | b64_text | st.sampled_from(["EH_AES_GCM_128", "EH_INTERNAL_KEY", KEYID, "", "===="])

ACTION_STRUCTS = sorted(
    {spec.payload for spec in ACTIONS.values() if spec.payload is not None}, key=lambda t: t.__name__
)


def payloads_for(struct: type[msgspec.Struct]) -> st.SearchStrategy[dict[str, Any]]:
    names = [f.encode_name for f in msgspec.structs.fields(struct)]
    known = st.fixed_dictionaries({}, optional={name: field_values for name in names})
    return st.one_of(known, st.dictionaries(st.text(max_size=10), json_values, max_size=5))


@pytest.mark.parametrize("struct", ACTION_STRUCTS, ids=lambda t: t.__name__)
def test_decode_payload_raises_only_param_errors(struct: type[msgspec.Struct]) -> None:
    @settings(max_examples=40, deadline=None)
    @given(payload=payloads_for(struct))
    def check(payload: dict[str, Any]) -> None:
        try:
            decoded = decode_payload(payload, struct)
        except ParamError as exc:
            assert exc.message.startswith(("Missing required parameters, The ", "Parameter invalid, The "))
        else:
            assert isinstance(decoded, struct)

    check()
