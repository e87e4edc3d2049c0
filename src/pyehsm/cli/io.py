"""Data arguments in, results out, for the client commands.

Data arguments: ``-`` reads stdin, ``@PATH`` reads a file, anything else is the value itself (text,
or base64 for ciphertexts and signatures). Files and stdin are raw bytes (``--base64-input``: base64
text). Binary results print as base64 unless ``--raw`` (bytes to stdout) or ``--out FILE``; other
results as a table or fields, or JSON under ``-o json``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pyehsm.cli.connection import Connection
from pyehsm.client.models import b64

MAX_DATA_BYTES = 6144  # the most Encrypt, AsymmetricEncrypt and Sign (EH_RAW) take


def check_size(data: bytes, command: str, way_round: str) -> None:
    """Refuse input the server would refuse, saying the limit and the way round it."""
    if len(data) > MAX_DATA_BYTES:
        raise click.UsageError(
            f"{command} takes at most {MAX_DATA_BYTES} bytes and this input has {len(data)}: {way_round}"
        )


# -- input and output ---------------------------------------------------------------------------------
def read_data(value: str, *, base64_literal: bool, base64_input: bool = False) -> bytes:
    """``-`` stdin, ``@path`` a file, else the literal value.

    Files and stdin are raw bytes unless ``base64_input``; for base64 arguments (``base64_literal``:
    ciphertexts, signatures) a file or stdin that is nothing but one base64 text (what ``encrypt`` and
    ``sign`` print by default) is decoded, so ``pyehsm encrypt ... | pyehsm decrypt -`` works.
    """
    if value == "-":
        data = sys.stdin.buffer.read()
    elif value.startswith("@"):
        try:
            data = Path(value[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    else:
        if base64_literal:
            return _unbase64(value.encode())
        return value.encode("utf-8")
    if base64_input:
        return _unbase64(data)
    if base64_literal:
        decoded = _maybe_base64(data)
        if decoded is not None:
            return decoded
    return data


_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


def _maybe_base64(data: bytes) -> bytes | None:
    """The decoded bytes when ``data`` is one base64 text (whitespace allowed), else None.

    Binary ciphertexts and signatures are random bytes: the chance that one of n bytes is all base64
    characters with a valid length is below 4**-n, so raw input is not mistaken for base64."""
    text = b"".join(data.split())
    if len(text) < 8 or len(text) % 4 or not _BASE64_TEXT.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _unbase64(data: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error:
        raise click.BadParameter("not valid base64") from None


def read_text(value: str) -> str:
    data = read_data(value, base64_literal=False)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter("secret values must be UTF-8 text") from None


def write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def emit_binary(conn: Connection, name: str, data: bytes, raw: bool, out: Path | None, **extra: Any) -> None:
    """One binary result: to a file, raw to stdout, as JSON, or as a base64 line."""
    if out is not None:
        write_bytes(out, data, private=name == "plaintext")
        if conn.output == "json":
            emit_json({**extra, name: None, "written_to": str(out), "bytes": len(data)})
        return
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if conn.output == "json":
        emit_json({**extra, name: b64(data)})
    else:
        click.echo(b64(data))


def iso(epoch_ms: int | str | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC (``2025-01-31T12:00:00.123Z``) for tables; "" when unset."""
    try:
        ms = int(epoch_ms or 0)
    except (TypeError, ValueError):
        return str(epoch_ms)
    if ms <= 0:
        return ""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def emit_fields(conn: Connection, fields: dict[str, Any]) -> None:
    if conn.output == "json":
        emit_json(fields)
        return
    width = max(len(k) for k in fields) if fields else 0
    for key, value in fields.items():
        click.echo(f"{key.ljust(width)}  {'' if value is None else value}")


def emit_done(conn: Connection, message: str, **fields: Any) -> None:
    if conn.output == "json":
        emit_json({"result": "ok", **fields})
    else:
        click.echo(message)


raw_option = click.option("--raw", is_flag=True, help="Write the raw bytes to stdout instead of base64.")
out_option = click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the raw bytes to this file."
)
aad_option = click.option("--aad", default=None, help="Additional authenticated data (text, - or @file).")
base64_input_option = click.option(
    "--base64-input", is_flag=True, help="Files and stdin hold base64 text rather than raw bytes."
)


def read_aad(value: str | None) -> bytes | None:
    return read_data(value, base64_literal=False) if value is not None else None
