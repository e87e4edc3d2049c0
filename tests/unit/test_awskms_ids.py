"""Key identifiers on the AWS door: a key id is accepted exactly when it is a UUID in its canonical text
(what ``str(uuid.UUID(value)) == value`` accepted before the pattern replaced it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.protocols.awskms.errors import AwsError
from pyehsm.protocols.awskms.ids import key_arn, resolve_keyid


def _canonical(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _accepted(value: str) -> bool:
    try:
        return resolve_keyid("app", value) == value
    except AwsError:
        return False


_MUTATIONS = st.sampled_from(
    [str.upper, lambda v: "{" + v + "}", lambda v: "urn:uuid:" + v, lambda v: v.replace("-", ""), lambda v: v + "\n"]
)


@settings(max_examples=300, deadline=None)
@given(st.uuids(), _MUTATIONS, st.booleans())
def test_key_id_accepted_iff_canonical_uuid(value: uuid.UUID, mutate: Callable[[str], str], mutated: bool) -> None:
    text = mutate(str(value)) if mutated else str(value)
    assert _accepted(text) == _canonical(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF-{}:urn٠١٢", max_size=40))
def test_arbitrary_text_accepted_iff_canonical_uuid(text: str) -> None:
    if not text.startswith(("arn:", "alias/")):
        assert _accepted(text) == _canonical(text)


def test_arabic_indic_digits_are_not_a_key_id() -> None:
    keyid = str(uuid.uuid4())
    odd = keyid.replace("0", "٠").replace("1", "١")
    if odd != keyid:
        with pytest.raises(AwsError):
            resolve_keyid("app", odd)
    assert resolve_keyid("app", key_arn("eu-west-1", "app", keyid)) == keyid
