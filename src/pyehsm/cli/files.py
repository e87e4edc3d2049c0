"""`pyehsm encrypt-file` / `pyehsm decrypt-file`: envelope encryption of files and streams of any size.

A fresh 256-bit data key comes from GenerateDataKey under the CMK (the server keeps nothing); the data
is encrypted here with AES-256-GCM in chunks; the file carries the data key only in its encrypted form.
decrypt-file gets the data key back with Decrypt. The plaintext data key lives in one bytearray that is
overwritten with zeros when the command is done. Format (docs/file-encryption.md):

    "PYEHSMF1" | u32 header length | header | chunk 0 | chunk 1 | ... | chunk n-1
    header  = u8 version (1) | u32 chunk size | 8-byte random nonce prefix
              | u16 + keyid (UTF-8) | u32 + encrypted data key | u32 + aad (the GenerateDataKey context)
    chunk i = AES-256-GCM(data key, nonce = prefix || u32 i, aad = magic..header || final flag byte)
              of chunk-size plaintext bytes (the last chunk 0..chunk size, final flag 1; others 0)

All integers are big-endian. Every chunk authenticates the whole header, its own position (the
counter in the nonce) and whether it is the last one, so a changed header, a changed, swapped, dropped,
repeated or appended chunk and a truncated file all fail authentication.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import aad_option, emit_json, read_aad

MAGIC = b"PYEHSMF1"
VERSION = 1
DATA_KEY_BYTES = 32
TAG_BYTES = 16
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
MAX_HEADER = 64 * 1024
MAX_CHUNKS = 1 << 32
_FIXED = struct.Struct(">BI8s")


class FileFormatError(click.ClickException):
    """Not a pyehsm encrypted file, or one that fails authentication (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class FileHeader:
    keyid: str
    wrapped_key: bytes  # the GenerateDataKey ciphertext of the data key
    aad: bytes  # the context the data key was generated with (authenticated, not secret)
    chunk_size: int
    nonce_prefix: bytes  # 8 random bytes

    def encode(self) -> bytes:
        """The exact header bytes (magic and length included): the AAD of every chunk."""
        kid = self.keyid.encode("utf-8")
        body = b"".join(
            (
                _FIXED.pack(VERSION, self.chunk_size, self.nonce_prefix),
                struct.pack(">H", len(kid)),
                kid,
                struct.pack(">I", len(self.wrapped_key)),
                self.wrapped_key,
                struct.pack(">I", len(self.aad)),
                self.aad,
            )
        )
        return MAGIC + struct.pack(">I", len(body)) + body

    @classmethod
    def read(cls, stream: IO[bytes]) -> tuple[FileHeader, bytes]:
        """Parse the header at the start of ``stream``; also return its exact bytes."""
        start = read_exact(stream, len(MAGIC) + 4)
        if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
            raise FileFormatError("not a pyehsm encrypted file (made by pyehsm encrypt-file)")
        (length,) = struct.unpack(">I", start[len(MAGIC) :])
        if length > MAX_HEADER:
            raise FileFormatError("the file's header is damaged (too long)")
        body = read_exact(stream, length)
        try:
            version, chunk_size, prefix = _FIXED.unpack_from(body)
            pos = _FIXED.size
            fields: list[bytes] = []
            for size in (2, 4, 4):
                (n,) = struct.unpack_from(">H" if size == 2 else ">I", body, pos)
                pos += size
                if pos + n > len(body):
                    raise struct.error
                fields.append(body[pos : pos + n])
                pos += n
            keyid = fields[0].decode("utf-8")
        except (struct.error, UnicodeDecodeError):
            raise FileFormatError("the file's header is damaged") from None
        if pos != len(body) or version != VERSION or not 1 <= chunk_size <= MAX_CHUNK:
            raise FileFormatError(f"unsupported or damaged header (version {version}, chunk size {chunk_size})")
        return cls(keyid, fields[1], fields[2], chunk_size, prefix), start + body


def read_exact(stream: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes: fewer only at the end of the stream (pipes return short reads)."""
    parts: list[bytes] = []
    left = n
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= MAX_CHUNKS:
        raise FileFormatError("too many chunks for one data key: use a larger --chunk-size")
    return prefix + counter.to_bytes(4, "big")


def _aad_of(header: bytes, final: bool) -> bytes:
    return header + (b"\x01" if final else b"\x00")


def seal_stream(key: bytearray, header: FileHeader, source: IO[bytes], sink: IO[bytes]) -> tuple[int, int]:
    """Write the header and the chunks of ``source``; return (plaintext bytes, chunks)."""
    raw = header.encode()
    sink.write(raw)
    aead = AESGCM(key)
    current = read_exact(source, header.chunk_size)
    counter = total = 0
    while True:
        following = read_exact(source, header.chunk_size) if len(current) == header.chunk_size else b""
        final = not following
        sink.write(aead.encrypt(_nonce(header.nonce_prefix, counter), current, _aad_of(raw, final)))
        total += len(current)
        counter += 1
        if final:
            return total, counter
        current = following


def open_stream(key: bytearray, header: FileHeader, raw: bytes, source: IO[bytes], sink: IO[bytes]) -> tuple[int, int]:
    """Check and write the plaintext of every chunk after the header; return (plaintext bytes, chunks)."""
    aead = AESGCM(key)
    size = header.chunk_size + TAG_BYTES
    current = read_exact(source, size)
    counter = total = 0
    while True:
        following = read_exact(source, size) if len(current) == size else b""
        final = not following
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, counter), current, _aad_of(raw, final))
        except InvalidTag:
            raise FileFormatError(
                f"chunk {counter} fails authentication: the file is damaged, truncated or reordered "
                "(nothing of it can be trusted)"
            ) from None
        sink.write(plain)
        total += len(plain)
        counter += 1
        if final:
            return total, counter
        current = following


@contextmanager
def _input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield handle


@contextmanager
def _output(path: str, *, private: bool) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file next to ``path`` renamed over it only when everything succeeded."""
    if path == "-":
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(conn: Connection, target: str, message: str, **fields: object) -> None:
    if target == "-":
        return
    if conn.output == "json":
        emit_json(fields)
    else:
        click.echo(message)


_in_arg = click.argument("source", metavar="IN")
_out_arg = click.argument("target", metavar="OUT")


@click.command("encrypt-file")
@click.option("--keyid", "-k", required=True, help="A symmetric CMK (GenerateDataKey).")
@_in_arg
@_out_arg
@aad_option
@click.option(
    "--chunk-size",
    type=click.IntRange(1, MAX_CHUNK),
    default=DEFAULT_CHUNK,
    show_default=True,
    help="Plaintext bytes per chunk.",
)
@with_connection()
def encrypt_file(conn: Connection, keyid: str, source: str, target: str, aad: str | None, chunk_size: int) -> None:
    """Encrypt IN (a file or - for stdin, any size) to OUT (a file or -) with a fresh data key under KEYID.

    Envelope encryption: GenerateDataKey gives a 256-bit data key; the data is encrypted here with
    AES-256-GCM in authenticated chunks; OUT holds only the encrypted data key. Format: docs/file-encryption.md.
    """
    context = read_aad(aad) or b""
    with conn.client() as client:
        plain_key, wrapped = client.generate_data_key(keyid, DATA_KEY_BYTES, context or None)
    key = bytearray(plain_key)
    del plain_key
    header = FileHeader(keyid, wrapped, context, chunk_size, os.urandom(8))
    try:
        with _input(source) as src, _output(target, private=False) as sink:
            total, chunks = seal_stream(key, header, src, sink)
    finally:
        key[:] = bytes(len(key))
    _report(conn, target, f"encrypted {total} bytes to {target}", keyid=keyid, out=target, bytes=total, chunks=chunks)


@click.command("decrypt-file")
@click.option("--keyid", "-k", default=None, help="Default: the CMK named in the file (given: it must match).")
@_in_arg
@_out_arg
@with_connection()
def decrypt_file(conn: Connection, keyid: str | None, source: str, target: str) -> None:
    """Decrypt IN (made by encrypt-file; a file or -) to OUT (a file, 0600, or -).

    Every chunk is authenticated before it is written; a file OUT appears only when the whole input
    authenticated. With OUT "-", a failure (exit code 1) comes after the chunks before it were written:
    discard that output.
    """
    with _input(source) as src:
        header, raw = FileHeader.read(src)
        if keyid is not None and keyid != header.keyid:
            raise FileFormatError(f"the file was encrypted under key {header.keyid}, not {keyid}")
        with conn.client() as client:
            plain_key = client.decrypt(header.keyid, header.wrapped_key, header.aad or None)
        key = bytearray(plain_key)
        del plain_key
        try:
            with _output(target, private=True) as sink:
                total, chunks = open_stream(key, header, raw, src, sink)
        finally:
            key[:] = bytes(len(key))
    _report(
        conn, target, f"decrypted {total} bytes to {target}", keyid=header.keyid, out=target, bytes=total, chunks=chunks
    )


COMMANDS: list[click.Command] = [encrypt_file, decrypt_file]
