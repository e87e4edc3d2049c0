"""`pyehsm configure` (alias `pyehsm login`): save the credentials an administrator gave you in a profile.

Writes the ``--profile`` section (default "default") of the credentials file (0600, in a 0700 directory):
url, appid, apikey and optionally ca_bundle. Values not given as options are asked for (the apikey
without echo), with the profile's current values as defaults; ``--no-input`` never asks. With ``--check``
(the default) the credentials are tried with ListKey before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.connection import (
    DEFAULT_PROFILE,
    DEFAULT_URL,
    api_errors,
    default_credentials_path,
    make_client,
    read_profile,
    write_profile,
)
from pyehsm.cli.io import emit_json
from pyehsm.client import Client


def _value(given: str | None, current: str, prompt: str, *, ask: bool, secret: bool = False) -> str:
    if given is not None:
        return given
    if not ask:
        return current
    if secret:
        entered: str = click.prompt(
            f"{prompt}{' [keep the saved one]' if current else ''}",
            default="",
            hide_input=True,
            show_default=False,
            err=True,
        )
        return entered or current
    answer: str = click.prompt(prompt, default=current or None, err=True)
    return answer


@click.command("configure")
@click.option("--url", default=None, help="Server base URL ending in /ehsm.")
@click.option("--appid", default=None, help="App id.")
@click.option("--apikey", default=None, help="App key (prefer the prompt: options show in the process list).")
@click.option("--ca-bundle", default=None, help="CA bundle (PEM) for the server's TLS certificate; '' removes it.")
@click.option("--profile", envvar="PYEHSM_PROFILE", default=None, help="Profile name (default: default).")
@click.option(
    "--credentials-file",
    envvar="PYEHSM_CREDENTIALS_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Credentials file (default ~/.config/pyehsm/credentials).",
)
@click.option("--no-input", is_flag=True, help="Never prompt: missing values keep the profile's current ones.")
@click.option("--check/--no-check", default=True, show_default=True, help="Try the credentials (ListKey) first.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per attempt for --check.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def configure(
    url: str | None,
    appid: str | None,
    apikey: str | None,
    ca_bundle: str | None,
    profile: str | None,
    credentials_file: Path | None,
    no_input: bool,
    check: bool,
    timeout: float,
    output: str,
) -> None:
    """Save a server URL and app credentials as a profile that later commands use."""
    with api_errors(output):
        path = credentials_file or default_credentials_path()
        name = profile or DEFAULT_PROFILE
        current = read_profile(path, name, required=False)
        ask = not no_input
        values = {
            "url": _value(url, current.get("url", DEFAULT_URL), "Server URL", ask=ask),
            "appid": _value(appid, current.get("appid", ""), "App id", ask=ask),
            "apikey": _value(apikey, current.get("apikey", ""), "App key", ask=ask, secret=True),
        }
        bundle = ca_bundle if ca_bundle is not None else current.get("ca_bundle", "")
        if bundle and not Path(bundle).is_file():
            raise click.BadParameter(f"CA bundle {bundle} is not a file", param_hint="--ca-bundle")
        if bundle:
            values["ca_bundle"] = str(Path(bundle).resolve())
        missing = [k for k in ("url", "appid", "apikey") if not values[k]]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)}: give --{' --'.join(missing)} or answer the prompt")
        if check:
            verify: bool | str = values.get("ca_bundle") or True
            with make_client(
                Client, values["url"], values["appid"], values["apikey"], timeout=timeout, verify=verify
            ) as client:
                client.list_key()
        write_profile(path, name, values)
    if output == "json":
        emit_json({"result": "ok", "profile": name, "path": str(path), "url": values["url"], "appid": values["appid"]})
    else:
        click.echo(f"saved profile {name!r} in {path}")


login = click.Command(
    "login",
    callback=configure.callback,
    params=configure.params,
    help="Same as `pyehsm configure`: save a server URL and app credentials as a profile.",
)

COMMANDS: list[click.Command] = [configure, login]
