"""The versioned, self-describing ciphertext blob returned by Encrypt and GenerateDataKey.

    byte 0      magic and format version (0xE1)
    byte 1      algorithm id (AlgorithmId)
    bytes 2..5  key version, u32 big-endian
    bytes 6..   algorithm fields: AES-GCM: iv(12) | ct | tag(16); SM4-CBC/CTR: iv(16) | ct | HMAC-SM3(32)

The 6 header bytes are authenticated (they are part of the AEAD's associated data), so flipping any
bit of the blob, header included, fails decryption. See docs/ciphertext-format.md.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

MAGIC = 0xE1
_HEADER = struct.Struct(">BBI")
HEADER_BYTES = _HEADER.size


class AlgorithmId(enum.IntEnum):
    AES_GCM = 1
    SM4_CBC_HMAC_SM3 = 2
    SM4_CTR_HMAC_SM3 = 3


class BlobFormatError(Exception):
    """The blob is not a pyehsm ciphertext (bad magic, unknown algorithm, truncated)."""


class Blob(NamedTuple):  # a tuple, not a frozen dataclass: built on every Decrypt
    header: bytes
    algorithm: AlgorithmId
    key_version: int
    body: bytes


_ALGORITHMS = {int(a): a for a in AlgorithmId}  # a dict lookup, not an Enum call, on every Decrypt


def header(algorithm: AlgorithmId, key_version: int) -> bytes:
    return _HEADER.pack(MAGIC, algorithm, key_version)


def pack(algorithm: AlgorithmId, key_version: int, body: bytes) -> bytes:
    return header(algorithm, key_version) + body


def unpack(blob: bytes) -> Blob:
    if len(blob) <= HEADER_BYTES:
        raise BlobFormatError("ciphertext too short")
    magic, alg, version = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise BlobFormatError("not a pyehsm ciphertext")
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:
        raise BlobFormatError("unknown ciphertext algorithm")
    return Blob(blob[:HEADER_BYTES], algorithm, version, blob[HEADER_BYTES:])


# -- the keyed form: a blob that names its key (the AWS KMS door's CiphertextBlob) -------------------------
KEYED_MAGIC = 0xE2
KEYID_BYTES = 16  # the key id's UUID, binary form
KEYED_PREFIX_BYTES = 1 + KEYID_BYTES


def keyed(keyid: bytes, blob: bytes) -> bytes:
    """``blob`` prefixed with 0xE2 and the 16-byte key id, so a Decrypt that names no key can find it.
    The prefix needs no authentication of its own: the key id is bound into the blob's AEAD (changing it
    points the blob at a key it does not decrypt under)."""
    return bytes((KEYED_MAGIC,)) + keyid + blob


def split_keyed(data: bytes) -> tuple[bytes | None, bytes]:
    """(the 16-byte key id named by a keyed blob, the plain blob); (None, data) for a plain blob."""
    if len(data) > KEYED_PREFIX_BYTES and data[0] == KEYED_MAGIC:
        return data[1:KEYED_PREFIX_BYTES], data[KEYED_PREFIX_BYTES:]
    return None, data


def key_version_of(data: bytes) -> int | None:
    """The key version a ciphertext (plain or keyed) names, for the audit record; None when it is not a
    pyehsm ciphertext. Reads the header in place (no copy of the blob): every Encrypt/Decrypt handler asks."""
    offset = KEYED_PREFIX_BYTES if len(data) > KEYED_PREFIX_BYTES and data[0] == KEYED_MAGIC else 0
    if len(data) <= offset + HEADER_BYTES:
        return None
    magic, alg, version = _HEADER.unpack_from(data, offset)
    return int(version) if magic == MAGIC and alg in _ALGORITHMS else None
