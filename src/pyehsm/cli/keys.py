"""`pyehsm key ...`: create, list, enable/disable, delete, public-key, import (BYOK, cli/byok.py wraps)."""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.byok import wrap_for_import
from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import base64_input_option, emit_done, emit_json, emit_table, iso, read_data
from pyehsm.crypto.keyspecs import KEYSPEC_NAMES, ORIGIN_NAMES, USAGE_NAMES, WRAPPING_KEYSPEC_NAMES

_USAGE_ALIASES = {
    "encrypt": "EH_KEYUSAGE_ENCRYPT_DECRYPT",
    "sign": "EH_KEYUSAGE_SIGN_VERIFY",
    "agree": "EH_KEYUSAGE_KEY_AGREEMENT",  # ML-KEM, ECDH, X25519
    **{name: name for name in USAGE_NAMES},
}


@click.group("key")
def key_group() -> None:
    """Customer master keys: create, list, enable, disable, delete, public key, import."""


@key_group.command("create")
@click.argument("keyspec", type=click.Choice(KEYSPEC_NAMES), metavar="KEYSPEC")
@click.option("--origin", type=click.Choice(ORIGIN_NAMES), default="EH_INTERNAL_KEY", show_default=True)
@click.option(
    "--usage",
    type=click.Choice(sorted(_USAGE_ALIASES)),
    default=None,
    help="encrypt, sign or agree (key agreement) (default: the keyspec's natural usage).",
)
@with_connection()
def key_create(conn: Connection, keyspec: str, origin: str, usage: str | None) -> None:
    """Create a key (CreateKey) and print its keyid."""
    with conn.client() as client:
        keyid = client.create_key(keyspec, origin, _USAGE_ALIASES[usage] if usage else None)
    if conn.output == "json":
        emit_json({"keyid": keyid})
    else:
        click.echo(keyid)


@key_group.command("list")
@with_connection()
def key_list(conn: Connection) -> None:
    """List this app's keys (ListKey)."""
    with conn.client() as client:
        keys = client.list_key()
    if conn.output == "json":
        emit_json([dict(k.raw) for k in keys])
        return
    rows = [
        (
            k.keyid,
            k.keyspec,
            k.state or ("Enabled" if k.enabled else "Disabled"),
            k.keyusage or "",
            iso(k.creation_date),
        )
        for k in keys
    ]
    emit_table(rows, ("keyid", "keyspec", "state", "usage", "created"))


def _key_state_command(name: str, verb: str, method: str, doc: str) -> click.Command:
    @click.argument("keyid")
    @with_connection()
    def command(conn: Connection, keyid: str) -> None:
        with conn.client() as client:
            getattr(client, method)(keyid)
        emit_done(conn, f"{verb} {keyid}", keyid=keyid)

    command.__doc__ = doc
    return click.command(name)(command)


key_group.add_command(_key_state_command("enable", "enabled", "enable_key", "Enable a key (EnableKey)."))
key_group.add_command(_key_state_command("disable", "disabled", "disable_key", "Disable a key (DisableKey)."))


@key_group.command("delete")
@click.argument("keyid", required=False)
@click.option("--all", "delete_all", is_flag=True, help="Delete every key of this app (DeleteAllKey).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@with_connection()
def key_delete(conn: Connection, keyid: str | None, delete_all: bool, yes: bool) -> None:
    """Delete a key (DeleteKey), or every key with --all. Asks first unless --yes."""
    if bool(keyid) == delete_all:
        raise click.UsageError("give either a KEYID or --all")
    if not yes:
        question = (
            "Delete EVERY key of this app? Data encrypted under them becomes unrecoverable"
            if delete_all
            else f"Delete key {keyid}? Data encrypted under it becomes unrecoverable"
        )
        click.confirm(question, abort=True, err=True)
    with conn.client() as client:
        if delete_all:
            client.delete_all_key()
        else:
            client.delete_key(str(keyid))
    emit_done(conn, "deleted all keys" if delete_all else f"deleted {keyid}", keyid=keyid)


@key_group.command("public-key")
@click.argument("keyid")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the PEM here.")
@with_connection()
def key_public_key(conn: Connection, keyid: str, out: Path | None) -> None:
    """Print the PEM public key of an asymmetric key (GetPublicKey)."""
    with conn.client() as client:
        pem = client.get_public_key(keyid)
    if out is not None:
        out.write_text(pem, encoding="ascii")
    elif conn.output == "json":
        emit_json({"keyid": keyid, "pubkey": pem})
    else:
        click.echo(pem.rstrip("\n"))


@key_group.command("import")
@click.argument("keyid")
@click.argument("material")
@click.option("--wrapping-keyspec", type=click.Choice(WRAPPING_KEYSPEC_NAMES), default="EH_RSA_3072", show_default=True)
@click.option(
    "--new-version",
    is_flag=True,
    help="Rotate a key that has material: import into a new key version made primary (newVersion).",
)
@base64_input_option
@with_connection()
def key_import(
    conn: Connection, keyid: str, material: str, wrapping_keyspec: str, new_version: bool, base64_input: bool
) -> None:
    """Import key material into an EH_EXTERNAL_KEY (GetParametersForImport + ImportKeyMaterial).

    MATERIAL is the plaintext key (- or @file; a literal is base64). It is wrapped here, on the client,
    under the server's one-time public key (RSA-OAEP-SHA256 or SM2) and never sent in the clear.
    With --new-version the material becomes a new key version (older ciphertexts keep decrypting).
    """
    key = read_data(material, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        params = client.get_parameters_for_import(keyid, wrapping_keyspec, new_version)
        wrapped, padding = wrap_for_import(params.pubkey, key, wrapping_keyspec)
        if new_version:
            version = client.import_new_key_version(keyid, wrapped, params.import_token, padding)
            emit_done(conn, f"imported key material into {keyid} version {version}", keyid=keyid, version=version)
            return
        client.import_key_material(keyid, wrapped, params.import_token, padding)
    emit_done(conn, f"imported key material into {keyid}", keyid=keyid)


COMMANDS: list[click.Command] = [key_group]
