"""`pyehsm encrypt`, `decrypt`, `asymmetric-encrypt`, `asymmetric-decrypt`, `generate-data-key`.

Files of any size: ``pyehsm encrypt-file`` (cli/files.py); signatures: ``pyehsm sign`` (cli/signing.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import (
    aad_option,
    base64_input_option,
    check_size,
    emit_binary,
    emit_fields,
    out_option,
    raw_option,
    read_aad,
    read_data,
    write_bytes,
)
from pyehsm.client.models import b64
from pyehsm.client.operations import DEFAULT_ASYMMETRIC_PADDING
from pyehsm.crypto.keyspecs import PADDING_NAMES


@click.command("encrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("plaintext")
@aad_option
@raw_option
@out_option
@with_connection()
def encrypt(conn: Connection, keyid: str, plaintext: str, aad: str | None, raw: bool, out: Path | None) -> None:
    """Encrypt PLAINTEXT (text, - for stdin, @file; at most 6144 bytes) with a symmetric key (Encrypt).

    Larger data: `pyehsm encrypt-file` (envelope encryption, any size)."""
    data = read_data(plaintext, base64_literal=False)
    check_size(data, "encrypt", "use `pyehsm encrypt-file -k KEYID IN OUT` (envelope encryption, any size)")
    with conn.client() as client:
        ct = client.encrypt(keyid, data, read_aad(aad))
    emit_binary(conn, "ciphertext", ct, raw, out, keyid=keyid)


@click.command("decrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("ciphertext")
@aad_option
@raw_option
@out_option
@base64_input_option
@with_connection()
def decrypt(
    conn: Connection, keyid: str, ciphertext: str, aad: str | None, raw: bool, out: Path | None, base64_input: bool
) -> None:
    """Decrypt CIPHERTEXT (base64, - for stdin, @file) made by encrypt (Decrypt)."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        pt = client.decrypt(keyid, data, read_aad(aad))
    emit_binary(conn, "plaintext", pt, raw, out, keyid=keyid)


@click.command("asymmetric-encrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("plaintext")
@click.option("--padding", type=click.Choice(PADDING_NAMES), default=DEFAULT_ASYMMETRIC_PADDING, show_default=True)
@raw_option
@out_option
@with_connection()
def asymmetric_encrypt(conn: Connection, keyid: str, plaintext: str, padding: str, raw: bool, out: Path | None) -> None:
    """Encrypt PLAINTEXT with an RSA or SM2 key (AsymmetricEncrypt)."""
    data = read_data(plaintext, base64_literal=False)
    with conn.client() as client:
        ct = client.asymmetric_encrypt(keyid, data, padding)
    emit_binary(conn, "ciphertext", ct, raw, out, keyid=keyid)


@click.command("asymmetric-decrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("ciphertext")
@click.option("--padding", type=click.Choice(PADDING_NAMES), default=DEFAULT_ASYMMETRIC_PADDING, show_default=True)
@raw_option
@out_option
@base64_input_option
@with_connection()
def asymmetric_decrypt(
    conn: Connection, keyid: str, ciphertext: str, padding: str, raw: bool, out: Path | None, base64_input: bool
) -> None:
    """Decrypt CIPHERTEXT with an RSA or SM2 key (AsymmetricDecrypt)."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        pt = client.asymmetric_decrypt(keyid, data, padding)
    emit_binary(conn, "plaintext", pt, raw, out, keyid=keyid)


@click.command("generate-data-key")
@click.option("--keyid", "-k", required=True)
@click.option("--length", "keylen", type=click.IntRange(1, 1024), default=32, show_default=True, help="Bytes.")
@aad_option
@click.option("--without-plaintext", is_flag=True, help="Only the encrypted data key.")
@click.option(
    "--plaintext-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Raw data key file (0600)."
)
@click.option(
    "--ciphertext-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Raw wrapped key file."
)
@with_connection()
def generate_data_key(
    conn: Connection,
    keyid: str,
    keylen: int,
    aad: str | None,
    without_plaintext: bool,
    plaintext_out: Path | None,
    ciphertext_out: Path | None,
) -> None:
    """A fresh data key for envelope encryption (GenerateDataKey[WithoutPlaintext])."""
    with conn.client() as client:
        if without_plaintext:
            plaintext, ciphertext = None, client.generate_data_key_without_plaintext(keyid, keylen, read_aad(aad))
        else:
            plaintext, ciphertext = client.generate_data_key(keyid, keylen, read_aad(aad))
    fields: dict[str, Any] = {"keyid": keyid}
    if plaintext is not None:
        if plaintext_out is not None:
            write_bytes(plaintext_out, plaintext, private=True)
        else:
            fields["plaintext"] = b64(plaintext)
    if ciphertext_out is not None:
        write_bytes(ciphertext_out, ciphertext)
    else:
        fields["ciphertext"] = b64(ciphertext)
    emit_fields(conn, fields)


COMMANDS: list[click.Command] = [encrypt, decrypt, asymmetric_encrypt, asymmetric_decrypt, generate_data_key]
