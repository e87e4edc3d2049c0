"""The audit record and the chain's byte rules (docs/audit.md, "Chain format").

A record is one JSON object on one line, its fields in the order of ``Record`` with absent (None/False)
fields left out. Its *canonical bytes* are the line exactly as written, without the trailing newline:
the verifier hashes those bytes as they are, it never re-encodes a record. ``prev`` is the lowercase hex
SHA-256 of the previous record's canonical bytes in the same node's chain (GENESIS for the first).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

GENESIS = "0" * 64
FORMAT = 1

# Record kinds
REQUEST = "request"  # one per request (best-effort and required modes); phase "begin" precedes it in required
CHECKPOINT = "checkpoint"  # signed: commits to every record before it
START = "start"  # a writer (re)started the chain: notes a torn tail dropped, the records lost before
LOST = "lost"  # best-effort mode: records that could not be written since the last written one


class Record(msgspec.Struct, omit_defaults=True, gc=False):
    """One line of the trail. Never a payload value, plaintext, ciphertext, signature or apikey."""

    v: int  # format
    node: str
    seq: int
    prev: str
    kind: str
    time: str  # RFC 3339 UTC with microseconds
    # kind "request"
    phase: str | None = None  # "begin" (required mode, before the handler) or None (the outcome)
    request_id: str | None = None
    client: str | None = None
    forwarded_for: str | None = None  # only when the peer is a trusted proxy
    door: str | None = None
    action: str | None = None
    appid: str | None = None
    unauthenticated: bool = False  # appid is what the request claimed, not an authenticated app
    keyid: str | None = None
    key_version: int | None = None
    name: str | None = None  # alias or secret name (HMAC-SHA256 hex under --audit-hash-names)
    code: int | None = None
    error: str | None = None  # error class (e.g. "AuthError"), never its message
    latency_us: int | None = None
    # kind "checkpoint"
    key: str | None = None  # signer: the audit public key's id (see signing.key_id)
    count: int | None = None  # records since the previous checkpoint
    next_key: str | None = None  # a key rotation: the new public key (base64), signed by the old one
    sig: str | None = None  # base64 Ed25519 signature over checkpoint_message(...)
    # kinds "start" / "lost"
    dropped_bytes: int | None = None
    lost: int | None = None


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(Record)


def digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def rfc3339(time_us: int) -> str:
    """``time_us`` (µs since the epoch) as 2026-12-04T17:24:43.123456Z."""
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_message(node: str, seq: int, prev: str, time: str, key: str, count: int, next_key: str) -> bytes:
    """What a checkpoint's signature covers: its place in the chain (``prev`` commits to every record
    before it) and its own fields."""
    return f"pyehsm-audit-checkpoint:v1|{node}|{seq}|{prev}|{time}|{key}|{count}|{next_key}".encode()
