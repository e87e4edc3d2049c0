"""The `pyehsm` command. Each module of this package contributes a list of click commands."""

from __future__ import annotations

import click

from pyehsm.cli import (
    apps,
    attest,
    audit,
    backup,
    batch,
    client,
    data,
    encryption,
    files,
    kem,
    key_metadata,
    keys,
    mac,
    profile,
    release,
    rootkey,
    rotation,
    secrets,
    server,
    signing,
)
from pyehsm.version import VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="pyehsm")
def main() -> None:
    """pyehsm: a key management service wire-compatible with the eHSM-KMS REST API."""


_MODULES = (
    server,
    audit,
    data,
    attest,
    rootkey,
    backup,
    client,
    keys,
    key_metadata,
    rotation,
    release,
    encryption,
    secrets,
    signing,
    kem,
    mac,
    batch,
    files,
    profile,
)
for _module in _MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)
for _command in apps.APP_COMMANDS:  # server-side settings of an app, beside the client's `app enroll`
    client.app_group.add_command(_command)
