"""Import tokens (crypto/import_token.py): opaque, authenticated for one app and key, expiry carried and
authenticated, and no change to any byte or character of a token goes unnoticed."""

from __future__ import annotations

import base64
import os

import pytest

from pyehsm.crypto import import_token
from pyehsm.crypto.import_token import TOKEN_BYTES, TOKEN_CHARS, TokenError, issue, open_token

KEY = bytes(range(32))
APPID = "0b8a3c1e-5f7d-4a2b-9c6e-1d2f3a4b5c6d"
KEYID = "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908"
TOKEN_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
EXPIRES = 1_700_000_000_000 + 86_400_000
SPKI = b"\x30\x82 not really a public key, but bytes to hash"

# Byte regions of the raw token (see the module docstring).
REGIONS = {"version": (0, 1), "token id": (1, 17), "expiry": (17, 25), "public key hash": (25, 57), "tag": (57, 89)}


def token() -> str:
    return issue(KEY, APPID, KEYID, TOKEN_ID, EXPIRES, SPKI)


def raw(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_carries_id_expiry_and_key_hash() -> None:
    opened = open_token(KEY, token(), APPID, KEYID)
    assert opened.token_id == TOKEN_ID
    assert opened.expires_ms == EXPIRES
    assert opened.public_key_sha256 == import_token.public_key_digest(SPKI)
    assert TOKEN_ID.hex() in repr(opened) and "public" not in repr(opened)


def test_token_is_opaque_url_safe_text_of_fixed_length() -> None:
    t = token()
    assert len(t) == TOKEN_CHARS == 119 and len(raw(t)) == TOKEN_BYTES == 89
    assert set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert APPID not in t and KEYID not in t  # bound by the tag, not carried


def test_regions_cover_the_whole_token() -> None:
    covered = sorted(i for start, end in REGIONS.values() for i in range(start, end))
    assert covered == list(range(TOKEN_BYTES))


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_every_bit_of_every_byte_region_is_authenticated(region: str) -> None:
    start, end = REGIONS[region]
    original = raw(token())
    for i in range(start, end):
        for bit in range(8):
            tampered = bytearray(original)
            tampered[i] ^= 1 << bit
            with pytest.raises(TokenError):
                open_token(KEY, text(bytes(tampered)), APPID, KEYID)


def test_every_character_change_is_refused_non_canonical_encodings_included() -> None:
    t = token()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(t):
        for other in alphabet:
            if other == ch:
                continue
            with pytest.raises(TokenError):
                open_token(KEY, t[:i] + other + t[i + 1 :], APPID, KEYID)
    # The last character carries 2 spare bits: a text with them set decodes to the same bytes, and
    # must still be refused (one token, one text).
    last = alphabet.index(t[-1])
    assert last & 0b11 == 0
    sibling = t[:-1] + alphabet[last | 1]
    assert raw(sibling) == raw(t)
    with pytest.raises(TokenError):
        open_token(KEY, sibling, APPID, KEYID)


@pytest.mark.parametrize(
    "mangled",
    [
        "",
        "A",
        "token",
        "x" * TOKEN_CHARS,  # right length, not a token
        "+" * TOKEN_CHARS,  # standard-base64 alphabet is not the token alphabet
        "=" * TOKEN_CHARS,
    ],
)
def test_malformed_texts_are_refused(mangled: str) -> None:
    with pytest.raises(TokenError):
        open_token(KEY, mangled, APPID, KEYID)


def test_length_changes_and_padding_are_refused() -> None:
    t = token()
    for candidate in (t[:-1], t + "A", t + "=", t + "==", " " + t, t + "\n", t.upper(), t[1:] + t[0]):
        with pytest.raises(TokenError):
            open_token(KEY, candidate, APPID, KEYID)


def test_bound_to_app_key_and_token_key() -> None:
    t = token()
    with pytest.raises(TokenError):
        open_token(KEY, t, "1" + APPID[1:], KEYID)  # another app
    with pytest.raises(TokenError):
        open_token(KEY, t, APPID, "1" + KEYID[1:])  # another key of the same app
    with pytest.raises(TokenError):
        open_token(KEY, t, KEYID, APPID)  # roles swapped
    with pytest.raises(TokenError):
        open_token(os.urandom(32), t, APPID, KEYID)  # another server's token key
    # Length-prefixed binding: moving characters between appid and keyid is another binding.
    split = issue(KEY, "ab", "c", TOKEN_ID, EXPIRES, SPKI)
    with pytest.raises(TokenError):
        open_token(KEY, split, "a", "bc")


def test_a_forged_token_from_public_parts_does_not_open() -> None:
    """Everything but the key is known to the client: rebuilding the body with a later expiry and any
    tag fails, as does reusing a real tag."""
    original = raw(token())
    later = original[:17] + (EXPIRES + 10**9).to_bytes(8, "big") + original[25:]
    with pytest.raises(TokenError):
        open_token(KEY, text(later), APPID, KEYID)
    with pytest.raises(TokenError):
        open_token(KEY, text(original[:57] + bytes(32)), APPID, KEYID)


def test_fresh_tokens_differ_and_only_open_for_their_own_parameters() -> None:
    other_id = os.urandom(16)
    a, b = token(), issue(KEY, APPID, KEYID, other_id, EXPIRES, SPKI)
    assert a != b
    assert open_token(KEY, b, APPID, KEYID).token_id == other_id
    c = issue(KEY, APPID, KEYID, TOKEN_ID, EXPIRES, SPKI + b"x")
    assert open_token(KEY, c, APPID, KEYID).public_key_sha256 != open_token(KEY, a, APPID, KEYID).public_key_sha256


def test_issue_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError):
        issue(KEY[:16], APPID, KEYID, TOKEN_ID, EXPIRES, SPKI)
    with pytest.raises(ValueError):
        issue(KEY, APPID, KEYID, TOKEN_ID[:8], EXPIRES, SPKI)
