"""`pyehsm audit ...`: verify a trail offline, print the public key, rotate the signing key, hash a name;
and the audit options of `pyehsm serve` (docs/audit.md)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from pyehsm.config import Settings
from pyehsm.errors import StartupError

F = TypeVar("F", bound=Callable[..., Any])

_SERVE_OPTIONS = [
    click.option(
        "--audit-mode",
        type=click.Choice(["best-effort", "required"]),
        default="best-effort",
        show_default=True,
        help="required: a request whose audit record cannot be written fails and changes nothing.",
    ),
    click.option("--audit-node-id", default="", help="The node id in audit records (default: the host name)."),
    click.option("--audit-checkpoint-records", type=int, default=1000, show_default=True, help="Checkpoint every N."),
    click.option("--audit-checkpoint-seconds", type=float, default=60.0, show_default=True, help="... or every T s."),
    click.option("--audit-rotate-bytes", type=int, default=0, help="Rotate the file at this size."),
    click.option("--audit-rotate-seconds", type=float, default=0.0, help="Rotate the file at this age."),
    click.option("--audit-hash-names", is_flag=True, help="Record secret names and aliases as HMAC-SHA256."),
    click.option("--trusted-proxy", "trusted_proxies", multiple=True, help="CIDR whose X-Forwarded-For is audited."),
]
_PICKED: dict[str, Any] = {}


def audit_serve_options(f: F) -> F:
    """Adds the audit options to `pyehsm serve`; ``apply_audit_options`` puts them into the Settings."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name in (
            "audit_mode",
            "audit_node_id",
            "audit_checkpoint_records",
            "audit_checkpoint_seconds",
            "audit_rotate_bytes",
            "audit_rotate_seconds",
            "audit_hash_names",
            "trusted_proxies",
        ):
            _PICKED[name] = kwargs.pop(name)
        return f(*args, **kwargs)

    for option in reversed(_SERVE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def apply_audit_options(settings: Settings) -> Settings:
    return replace(settings, **_PICKED) if _PICKED else settings


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit trail: verify it, its public key, key rotation, name hashes."""


def _public_keys(values: tuple[str, ...]) -> list[str]:
    keys = []
    for value in values:
        path = Path(value)
        keys.append(path.read_text() if path.is_file() else value)
    return keys


@audit.command("verify")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key", "public_keys", multiple=True, required=True, help="Audit public key (base64 or a file); repeatable."
)
@click.option("--store", default=None, help="Verify the PostgreSQL sink (postgresql://...) instead of files.")
def verify(files: tuple[str, ...], public_keys: tuple[str, ...], store: str | None) -> None:
    """Verify audit files (any order; rotated files included) or a PostgreSQL sink, offline.

    Exit status: 0 everything verified, 1 tampering found, 2 only an unsigned or torn tail.
    """
    from pyehsm.audit.verify import trusted_keys, verify_files, verify_sources

    try:
        keys = _public_keys(public_keys)
        if store:
            from pyehsm.audit.pgsink import read_sources

            report = verify_sources(asyncio.run(read_sources(store)), trusted_keys(keys))
        elif files:
            report = verify_files(list(files), keys)
        else:
            raise click.UsageError("give audit FILES or --store postgresql://...")
    except (ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for line in report.lines():
        click.echo(line)
    sys.exit(report.status)


def _run_with_store(data_dir: Path | None, store: str | None, root_key: str | None, work: Callable[[Any], Any]) -> Any:
    from pyehsm.audit.keys import AuditKeys
    from pyehsm.cli.rootkey import opened
    from pyehsm.cli.server import base_settings, fail

    settings = base_settings(data_dir, store, root_key)

    async def run() -> Any:
        async with opened(settings) as o:
            return await work(AuditKeys(o.store, o.keyring))

    try:
        return asyncio.run(run())
    except StartupError as exc:
        fail(exc)


_data_dir = click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="The data dir.")
_store = click.option("--store", default=None, help="Store URL (default: SQLite in the data dir).")
_root_key = click.option("--root-key", default=None, help="The store's root key provider (see `pyehsm serve`).")


@audit.command("public-key")
@_data_dir
@_store
@_root_key
def public_key(data_dir: Path | None, store: str | None, root_key: str | None) -> None:
    """Print the active audit public key (base64 Ed25519), for `pyehsm audit verify --public-key`."""

    async def work(keys: Any) -> str:
        return str((await keys.signing_key()).public)

    click.echo(_run_with_store(data_dir, store, root_key, work))


@audit.command("rotate-key")
@_data_dir
@_store
@_root_key
def rotate_key(data_dir: Path | None, store: str | None, root_key: str | None) -> None:
    """Make a new audit signing key active; each running node records the hand-over in its chain
    (a checkpoint signed by the old key naming the new one) within 5 seconds, or when it next starts."""

    async def work(keys: Any) -> str:
        return str((await keys.rotate()).public)

    click.echo(_run_with_store(data_dir, store, root_key, work))


@audit.command("hash")
@click.argument("value")
@_data_dir
@_store
@_root_key
def hash_value(value: str, data_dir: Path | None, store: str | None, root_key: str | None) -> None:
    """Print VALUE as --audit-hash-names records it (HMAC-SHA256 under the audit HMAC key), to grep for."""
    from pyehsm.audit.keys import name_hash

    async def work(keys: Any) -> str:
        return name_hash(await keys.hmac_key(), value)

    click.echo(_run_with_store(data_dir, store, root_key, work))


COMMANDS = [audit]
