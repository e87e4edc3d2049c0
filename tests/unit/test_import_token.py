"""Import tokens (crypto/import_token.py): opaque, authenticated for one app and key, expiry carried and
authenticated, and no change to any byte or character of a token goes unnoticed."""

from __future__ import annotations

import base64
import os

import pytest

from pyehsm.crypto import import_token
from pyehsm.crypto.import_token import LEGACY_TOKEN_CHARS, TOKEN_BYTES, TOKEN_CHARS, TokenError, issue, open_token

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


STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def raw(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def legacy(data: bytes) -> str:
    """The form tokens had before standard base64: URL-safe, no padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_carries_id_expiry_and_key_hash() -> None:
    opened = open_token(KEY, token(), APPID, KEYID)
    assert opened.token_id == TOKEN_ID
    assert opened.expires_ms == EXPIRES
    assert opened.public_key_sha256 == import_token.public_key_digest(SPKI)
    assert TOKEN_ID.hex() in repr(opened) and "public" not in repr(opened)


def test_token_is_opaque_standard_base64_with_padding_of_fixed_length() -> None:
    """Intel's Rust SDK refuses to send back an importToken that is not standard base64."""
    t = token()
    assert len(t) == TOKEN_CHARS == 120 and len(raw(t)) == TOKEN_BYTES == 89
    assert t.endswith("=") and not t.endswith("==")  # 89 bytes: one padding character
    assert set(t[:-1]) <= set(STANDARD)
    assert base64.b64encode(base64.b64decode(t, validate=True)).decode() == t
    assert APPID not in t and KEYID not in t  # bound by the tag, not carried


def test_earlier_url_safe_unpadded_tokens_still_open() -> None:
    """Tokens issued before the switch (valid 24 hours) keep working, in their own form only."""
    old = legacy(raw(token()))
    assert len(old) == LEGACY_TOKEN_CHARS == 119
    assert open_token(KEY, old, APPID, KEYID) == open_token(KEY, token(), APPID, KEYID)
    for i in range(len(old)):
        for other in URL_SAFE:
            if other != old[i]:
                with pytest.raises(TokenError):
                    open_token(KEY, old[:i] + other + old[i + 1 :], APPID, KEYID)
    # Mixed forms are refused: URL-safe with padding, standard without it (for a token whose two forms differ).
    t = next(t for i in range(256) if set(t := issue(KEY, APPID, KEYID, bytes([i]) * 16, EXPIRES, SPKI)) & set("+/"))
    assert open_token(KEY, legacy(raw(t)), APPID, KEYID).token_id == open_token(KEY, t, APPID, KEYID).token_id
    for mixed in (t[:-1], legacy(raw(t)) + "="):
        with pytest.raises(TokenError):
            open_token(KEY, mixed, APPID, KEYID)


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
    for i, ch in enumerate(t):
        for other in STANDARD + "-_=":
            if other == ch:
                continue
            with pytest.raises(TokenError):
                open_token(KEY, t[:i] + other + t[i + 1 :], APPID, KEYID)
    # The last character before the padding carries 2 spare bits: a text with them set decodes to the same
    # bytes, and must still be refused (one token, one text).
    last = STANDARD.index(t[-2])
    assert last & 0b11 == 0
    sibling = t[:-2] + STANDARD[last | 1] + "="
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
        "+" * (TOKEN_CHARS - 1) + "=",  # well-formed base64 of the right length, not a token
        "-" * LEGACY_TOKEN_CHARS,
        "=" * TOKEN_CHARS,
    ],
)
def test_malformed_texts_are_refused(mangled: str) -> None:
    with pytest.raises(TokenError):
        open_token(KEY, mangled, APPID, KEYID)


def test_length_changes_and_padding_are_refused() -> None:
    t = token()
    for candidate in (t[:-1] + "A", t + "A", t + "=", t[:-1] + "==", " " + t, t + "\n", t.upper(), t[1:] + t[0]):
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
