"""`pyehsm key rotate`, `key rotation set|list`, `key min-version`, `pyehsm reencrypt` (docs/key-rotation.md)."""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import (
    base64_input_option,
    emit_binary,
    emit_done,
    emit_fields,
    emit_json,
    emit_table,
    iso,
    out_option,
    raw_option,
    read_aad,
    read_data,
)
from pyehsm.cli.keys import key_group
from pyehsm.client.models import KeyRotations


@key_group.command("rotate")
@click.argument("keyid")
@with_connection()
def key_rotate(conn: Connection, keyid: str) -> None:
    """Add a new version of an AES-GCM or SM4 key and make it primary (RotateKey); old ciphertexts still decrypt."""
    with conn.client() as client:
        version = client.rotate_key(keyid)
    emit_done(conn, f"rotated {keyid}: version {version.version} is primary", keyid=keyid, version=version.version)


@key_group.group("rotation")
def rotation_group() -> None:
    """Automatic rotation and the list of a key's versions."""


def _settings(conn: Connection, settings: KeyRotations) -> None:
    next_rotation = settings.next_rotation_date
    emit_fields(
        conn,
        {
            "keyid": settings.keyid,
            "rotationPeriodInDays": settings.rotation_period_in_days or "off",
            "nextRotationDate": next_rotation if conn.output == "json" else iso(next_rotation),
            "primaryVersion": settings.primary_version,
            "minDecryptionVersion": settings.min_decryption_version,
        },
    )


@rotation_group.command("set")
@click.argument("keyid")
@click.argument("days")
@with_connection()
def rotation_set(conn: Connection, keyid: str, days: str) -> None:
    """Rotate KEYID automatically every DAYS days (90..2560), or `off` (UpdateKeyRotation)."""
    if days.lower() in ("off", "0"):
        period = None
    elif days.isascii() and days.isdigit():
        period = int(days)
    else:
        raise click.BadParameter("a number of days (90..2560) or off", param_hint="DAYS")
    with conn.client() as client:
        _settings(conn, client.update_key_rotation(keyid, period))


@rotation_group.command("list")
@click.argument("keyid")
@with_connection()
def rotation_list(conn: Connection, keyid: str) -> None:
    """List KEYID's versions: creation time, how made, state, primary (ListKeyRotations)."""
    with conn.client() as client:
        listed = client.list_key_rotations(keyid)
    if conn.output == "json":
        emit_json(dict(listed.raw))
        return
    rows = [
        (v.version, iso(v.creation_date), v.rotation_type, v.state, "*" if v.primary else "") for v in listed.versions
    ]
    emit_table(rows, ("version", "created", "made", "state", "primary"))


@key_group.command("min-version")
@click.argument("keyid")
@click.argument("version", type=click.IntRange(1))
@with_connection()
def key_min_version(conn: Connection, keyid: str, version: int) -> None:
    """Refuse ciphertexts of KEYID's versions below VERSION (UpdateKeyVersionPolicy); 1 restores them all."""
    with conn.client() as client:
        _settings(conn, client.update_key_version_policy(keyid, version))


@click.command("reencrypt")
@click.option("--keyid", "-k", required=True, help="The key that made CIPHERTEXT.")
@click.argument("ciphertext")
@click.option("--aad", default=None, help="CIPHERTEXT's additional authenticated data (text, - or @file).")
@click.option("--to", "destination", default=None, help="The destination key (default: the same key's primary).")
@click.option("--to-aad", "destination_aad", default=None, help="The new ciphertext's aad (default: none).")
@raw_option
@out_option
@base64_input_option
@with_connection()
def reencrypt(
    conn: Connection,
    keyid: str,
    ciphertext: str,
    aad: str | None,
    destination: str | None,
    destination_aad: str | None,
    raw: bool,
    out: Path | None,
    base64_input: bool,
) -> None:
    """Re-encrypt CIPHERTEXT (base64, - or @file) inside the server (ReEncrypt): to the key's primary version, or
    --to another key. The plaintext never leaves the server."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        moved = client.reencrypt(keyid, data, read_aad(aad), destination, read_aad(destination_aad))
    emit_binary(conn, "ciphertext", moved.ciphertext, raw, out, keyid=moved.keyid, keyVersion=moved.key_version)


COMMANDS: list[click.Command] = [reencrypt]
