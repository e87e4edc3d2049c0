"""`pyehsm encapsulate` / `decapsulate` (ML-KEM: Encapsulate, Decapsulate) and `pyehsm derive-shared-secret`
(ECDH and X25519: DeriveSharedSecret)."""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import base64_input_option, emit_binary, emit_json, out_option, raw_option, read_data
from pyehsm.client.models import b64


@click.command("encapsulate")
@click.option("--keyid", "-k", required=True)
@with_connection()
def encapsulate(conn: Connection, keyid: str) -> None:
    """A fresh shared secret and its ciphertext under an ML-KEM key (Encapsulate); both base64."""
    with conn.client() as client:
        secret, ciphertext = client.encapsulate(keyid)
    if conn.output == "json":
        emit_json({"keyid": keyid, "ciphertext": b64(ciphertext), "sharedSecret": b64(secret)})
    else:
        click.echo(f"ciphertext: {b64(ciphertext)}")
        click.echo(f"sharedSecret: {b64(secret)}")


@click.command("decapsulate")
@click.option("--keyid", "-k", required=True)
@click.argument("ciphertext")
@base64_input_option
@raw_option
@out_option
@with_connection()
def decapsulate(conn: Connection, keyid: str, ciphertext: str, base64_input: bool, raw: bool, out: Path | None) -> None:
    """The shared secret of CIPHERTEXT (base64, or @file / - raw or base64) under an ML-KEM key (Decapsulate)."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        secret = client.decapsulate(keyid, data)
    emit_binary(conn, "sharedSecret", secret, raw, out, keyid=keyid)


@click.command("derive-shared-secret")
@click.option("--keyid", "-k", required=True)
@click.argument("peer")
@raw_option
@out_option
@with_connection()
def derive_shared_secret(conn: Connection, keyid: str, peer: str, raw: bool, out: Path | None) -> None:
    """The shared secret with PEER's public key (@file or - with a PEM or DER public key, or base64 DER)
    (DeriveSharedSecret)."""
    data = read_data(peer, base64_literal=False) if peer == "-" or peer.startswith("@") else peer.encode()
    text = data.decode("ascii", "replace")
    public_key: bytes | str = text if "-----BEGIN" in text or not peer.startswith(("@", "-")) else data
    with conn.client() as client:
        secret = client.derive_shared_secret(keyid, public_key)
    emit_binary(conn, "sharedSecret", secret, raw, out, keyid=keyid)


COMMANDS: list[click.Command] = [encapsulate, decapsulate, derive_shared_secret]
