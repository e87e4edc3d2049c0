"""Server-side app settings: `pyehsm app require-signed-action APPID on|off` (on the store, offline).

Running servers pick the change up within a second (services/apps.py, SETTINGS_TTL_MS).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from pyehsm.cli.server import base_settings, fail
from pyehsm.errors import StartupError
from pyehsm.protocols.ehsm.validation import has_control_chars


@click.command("require-signed-action")
@click.argument("appid")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--store", default=None, help="Store URL (default: SQLite in the data dir). Env: PYEHSM_STORE.")
def require_signed_action(appid: str, state: str, data_dir: Path | None, store: str | None) -> None:
    """Require (on) or stop requiring (off) that APPID's requests sign their Action.

    With it on, the server refuses every request of the app that does not carry the signed "action"
    field (pyehsm's signed-action form; Intel's SDKs cannot send it). See docs/operations.md.
    """
    from pyehsm.storage import open_store

    settings = base_settings(data_dir, store, None)

    async def run() -> bool:
        s = open_store(settings)
        await s.open()
        try:
            return await s.set_app_require_signed_action(appid, state == "on")
        finally:
            await s.close()

    try:
        found = not has_control_chars(appid) and asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    if not found:
        fail(StartupError(f"no app {appid!r} in this store"))
    click.echo(f"app {appid}: require-signed-action {state}")


# Subcommands of the `pyehsm app` group (cli/client.py), added by cli/__init__.py.
APP_COMMANDS = [require_signed_action]
