"""BYOK import tokens (GetParametersForImport -> ImportKeyMaterial): opaque, authenticated, expiring.

A token is the standard base64, with padding, of 89 bytes (120 characters; Intel's Rust SDK checks that the
importToken is standard base64 before sending it back)::

    version (1 byte, 0x01) | token id (16 random bytes) | expiry (u64 ms since the epoch, big-endian)
    | SHA-256 of the wrapping public key's SubjectPublicKeyInfo DER (32) | tag (32)

    tag = HMAC-SHA256(token key, "pyehsm:import-token:v1" || version .. key hash
                      || u16 len || appid || u16 len || keyid)

The appid and keyid are authenticated but not carried: a token opens only for the app and key it was
issued to, so it cannot be replayed against another key or by another app. The expiry is authenticated
too, so an expired token is recognised as such even after its server-side parameters were swept away.
The token key is a random 256-bit key of its own, kept wrapped by the domain key (services/byok.py),
never the domain key itself. Any change to any byte, a non-canonical encoding included, fails
:func:`open_token` with one error. Tokens issued before the switch to standard base64 were URL-safe base64
without padding (119 characters); that form of a token is accepted too, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

TOKEN_KEY_BYTES = 32
TOKEN_ID_BYTES = 16
_VERSION = 1
_LABEL = b"pyehsm:import-token:v1"
_BODY = struct.Struct(f">B{TOKEN_ID_BYTES}sQ32s")
_TAG_BYTES = 32
TOKEN_BYTES = _BODY.size + _TAG_BYTES
TOKEN_CHARS = (TOKEN_BYTES + 2) // 3 * 4  # standard base64 with padding: 120
LEGACY_TOKEN_CHARS = (TOKEN_BYTES * 8 + 5) // 6  # URL-safe base64 without padding (earlier tokens): 119
_STANDARD = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_LEGACY = re.compile(r"[A-Za-z0-9_-]+")


class TokenError(ValueError):
    """A token that is malformed or not authentic for this app and key (one error for every cause)."""


@dataclass(frozen=True, slots=True)
class ImportToken:
    """An opened token: which import parameters it names, until when, and for which wrapping key."""

    token_id: bytes
    expires_ms: int
    public_key_sha256: bytes

    def __repr__(self) -> str:
        return f"<ImportToken {self.token_id.hex()} expires={self.expires_ms}>"


def public_key_digest(spki_der: bytes) -> bytes:
    return hashlib.sha256(spki_der).digest()


def _tag(key: bytes, body: bytes, appid: str, keyid: str) -> bytes:
    if len(key) != TOKEN_KEY_BYTES:
        raise ValueError("the token key must be 32 bytes")
    mac = hmac.new(key, _LABEL, hashlib.sha256)
    mac.update(body)
    for part in (appid.encode(), keyid.encode()):
        mac.update(struct.pack(">H", len(part)))
        mac.update(part)
    return mac.digest()


def issue(key: bytes, appid: str, keyid: str, token_id: bytes, expires_ms: int, spki_der: bytes) -> str:
    """The token text for import parameters ``token_id`` of (appid, keyid), valid until ``expires_ms``."""
    if len(token_id) != TOKEN_ID_BYTES:
        raise ValueError("the token id must be 16 bytes")
    body = _BODY.pack(_VERSION, token_id, expires_ms, public_key_digest(spki_der))
    raw = body + _tag(key, body, appid, keyid)
    return base64.b64encode(raw).decode("ascii")


def _decode(text: str) -> bytes:
    """The token bytes of ``text`` in either accepted form, canonical encodings only; TokenError otherwise."""
    if len(text) == TOKEN_CHARS and _STANDARD.fullmatch(text):
        raw = base64.b64decode(text, validate=True)
        canonical = base64.b64encode(raw).decode("ascii")
    elif len(text) == LEGACY_TOKEN_CHARS and _LEGACY.fullmatch(text):
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    else:
        raise TokenError
    # Reject non-canonical encodings (set spare bits in the last character) as well: one token, one text
    # per form.
    if len(raw) != TOKEN_BYTES or canonical != text:
        raise TokenError
    return raw


def open_token(key: bytes, text: str, appid: str, keyid: str) -> ImportToken:
    """The token's contents if ``text`` is a token issued under ``key`` for (appid, keyid); else TokenError.

    Expiry is *not* checked here: the caller compares ``expires_ms`` with its clock.
    """
    raw = _decode(text)
    body, tag = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(tag, _tag(key, body, appid, keyid)):
        raise TokenError
    version, token_id, expires_ms, key_digest = _BODY.unpack(body)
    if version != _VERSION:  # pragma: no cover - authenticated: only a future format could differ
        raise TokenError
    return ImportToken(token_id, int(expires_ms), key_digest)
