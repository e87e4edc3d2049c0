"""Client commands: talk to a pyehsm (or any eHSM-KMS) server through the SDK.

    pyehsm app enroll --save                     # create an app, store it in the credentials file
    pyehsm key create EH_AES_GCM_256             # prints the keyid
    pyehsm encrypt --keyid K @report.pdf --out report.pdf.enc
    pyehsm decrypt --keyid K @report.pdf.enc --out report.pdf
    pyehsm secret create db-password -           # the value from stdin

Credentials: --appid/--apikey, else PYEHSM_APPID/PYEHSM_APIKEY, else the profile (--profile, default
"default") in ~/.config/pyehsm/credentials (an INI file that must not be readable by other users).
Server: --url, else PYEHSM_URL, else the profile's url, else http://127.0.0.1:9000/ehsm.

Data arguments: ``-`` reads stdin, ``@PATH`` reads a file, anything else is the value itself (text,
or base64 for ciphertexts and signatures). Files and stdin are raw bytes (``--base64-input``: base64
text). Binary results print as base64 unless ``--raw`` (bytes to stdout) or ``--out FILE``.

Exit codes: 0 success, 1 the server refused or could not be reached (message on stderr), 2 usage.
Under ``-o json`` errors are one JSON object ``{"error": {"message", ...}}`` on stderr.

This module holds `app enroll`, `get-version` and `openapi`; the other client commands live beside it:
cli/keys.py (`key ...`, BYOK wrapping in cli/byok.py), cli/encryption.py (encrypt, decrypt, data keys),
cli/secrets.py (`secret ...`), cli/signing.py (sign, verify), cli/files.py (files of any size). Their
shared parts: cli/connection.py (credentials, connection options, errors) and cli/io.py (data in, results out).
"""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.connection import (
    DEFAULT_PROFILE,
    Connection,
    default_credentials_path,
    make_client,
    with_connection,
    write_profile,
)
from pyehsm.cli.io import emit_fields
from pyehsm.client import Client


# -- apps ---------------------------------------------------------------------------------------------
@click.group("app")
def app_group() -> None:
    """Apps (tenants): enroll a new app on a server."""


@app_group.command("enroll")
@click.option(
    "--admin-token", envvar="PYEHSM_ADMIN_TOKEN", default=None, help="For servers with --enroll-policy token."
)
@click.option("--save", is_flag=True, help="Store the new credentials (and url) as --profile in the credentials file.")
@with_connection(need_credentials=False)
def app_enroll(conn: Connection, admin_token: str | None, save: bool) -> None:
    """Enroll a new app (Enroll) and print its appid and apikey."""
    ctx = click.get_current_context()
    profile = ctx.params.get("profile") or DEFAULT_PROFILE
    with make_client(
        Client.enroll, conn.url, admin_token=admin_token, timeout=conn.timeout, verify=conn.verify
    ) as client:
        appid, apikey = client.appid, client.apikey
    if save:
        path = ctx.params.get("credentials_file") or default_credentials_path()
        values = {"url": conn.url, "appid": appid, "apikey": apikey}
        if isinstance(conn.verify, str):
            values["ca_bundle"] = str(Path(conn.verify).resolve())
        write_profile(path, profile, values)
        click.echo(f"saved profile {profile!r} in {path}", err=True)
    emit_fields(conn, {"appid": appid, "apikey": apikey})


@click.command("get-version")
@with_connection(need_credentials=False)
def get_version(conn: Connection) -> None:
    """The server's version and build id (GetVersion)."""
    with conn.client() as client:
        info = client.get_version()
    emit_fields(conn, {"version": info.version, "git_sha": info.git_sha})


# -- documentation ------------------------------------------------------------------------------------
@click.command("openapi")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: stdout.")
def openapi(out: Path | None) -> None:
    """Print (or write) the OpenAPI 3.1 document of this build (docs/openapi.json)."""
    from pyehsm.protocols.ehsm.openapi import render_openapi, write_openapi
    from pyehsm.protocols.ehsm.table import ACTIONS

    if out is not None:
        write_openapi(ACTIONS, out)
    else:
        click.echo(render_openapi(ACTIONS), nl=False)


COMMANDS: list[click.Command] = [app_group, get_version, openapi]
