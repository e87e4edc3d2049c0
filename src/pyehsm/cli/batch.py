"""`pyehsm batch encrypt`, `batch decrypt`, `batch data-key`, `batch decapsulate`: one BatchEncrypt / BatchDecrypt /
BatchGenerateDataKey / BatchDecapsulate request with the items of a JSON file.

The file (``-`` for stdin) holds a JSON array of items exactly as the Action takes them (docs/mac-random-batch.md):
``[{"keyid": "...", "plaintext": "<base64>", "aad": "<base64>"}, ...]`` for encrypt, ``ciphertext`` instead of
``plaintext`` for decrypt, ``keylen`` for data-key; at most 100 items. The answer is printed as a JSON array, one
``{"code", "message", "result"}`` per item in order; the exit code is 1 when any item failed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import emit_json, read_data


@click.group("batch")
def batch_group() -> None:
    """Up to 100 operations in one request (BatchEncrypt, BatchDecrypt, BatchGenerateDataKey, BatchDecapsulate)."""


def _items(source: str) -> list[Any]:
    text = read_data(source if source == "-" else "@" + source, base64_literal=False)
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{source} is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise click.BadParameter(f"{source} must hold a JSON array of items")
    return items


def _run(conn: Connection, action: str, source: str) -> None:
    items = _items(source)
    with conn.client() as client:
        result = client.call(action, {"items": items})
    answers: list[dict[str, Any]] = result.get("items") or []
    emit_json(answers)
    if any(answer.get("code") != 200 for answer in answers):
        sys.exit(1)


_file_argument = click.argument("items_file", metavar="ITEMS.json")


@batch_group.command("encrypt")
@_file_argument
@with_connection()
def encrypt(conn: Connection, items_file: str) -> None:
    """Encrypt the items of ITEMS.json (- for stdin): [{"keyid", "plaintext" (base64), "aad"?}] (BatchEncrypt)."""
    _run(conn, "BatchEncrypt", items_file)


@batch_group.command("decrypt")
@_file_argument
@with_connection()
def decrypt(conn: Connection, items_file: str) -> None:
    """Decrypt the items of ITEMS.json (- for stdin): [{"keyid", "ciphertext" (base64), "aad"?}] (BatchDecrypt)."""
    _run(conn, "BatchDecrypt", items_file)


@batch_group.command("data-key")
@_file_argument
@with_connection()
def data_key(conn: Connection, items_file: str) -> None:
    """Data keys for the items of ITEMS.json (- for stdin): [{"keyid", "keylen", "aad"?}] (BatchGenerateDataKey)."""
    _run(conn, "BatchGenerateDataKey", items_file)


@batch_group.command("decapsulate")
@_file_argument
@with_connection()
def decapsulate(conn: Connection, items_file: str) -> None:
    """Shared secrets of ITEMS.json's items (- for stdin): [{"keyid", "ciphertext" (base64)}] (BatchDecapsulate)."""
    _run(conn, "BatchDecapsulate", items_file)


COMMANDS: list[click.Command] = [batch_group]
