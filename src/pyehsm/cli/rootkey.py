"""Root-key and domain-key custody: `pyehsm root-key ...`, `pyehsm domain-key ...` (backups: cli/backup.py).

These run on a server machine (they open the store and the root key directly, like `pyehsm enroll`),
also while nodes are serving: every change is a compare-and-swap in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pyehsm.cli.server import base_settings, data_dir_option, fail
from pyehsm.clock import SystemClock
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.keyring.domain import ACTIVE_DK, ROOT_KIND, open_keyring, rotate_root
from pyehsm.keyring.domain_key_rotation import (
    DEFAULT_BATCH,
    DEFAULT_PROPAGATION_MS,
    MIN_PROPAGATION_MS,
    REFRESH_SECONDS,
    DomainKeyRotation,
    RotationState,
    read_state,
    wrapped_counts,
)
from pyehsm.keyring.keyring import Keyring
from pyehsm.keyring.root import FileRootKey, PassphraseRootKey, Pkcs11RootKey, RootKeyProvider, root_provider_from_spec
from pyehsm.store.base import Store

_data_dir = data_dir_option
store_option = click.option("--store", default=None, help="Store URL (default: SQLite in the data dir).")
_root_key = click.option("--root-key", default=None, help="The store's root key provider (see `pyehsm serve`).")


@dataclass
class Opened:
    store: Store
    root: RootKeyProvider
    keyring: Keyring


async def _open_store(settings: Settings) -> Store:
    from pyehsm.storage import open_store

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_store(settings)
    await store.open()
    return store


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Opened]:
    """The existing store with its root key and domain keys (never initialises a new store)."""
    store = await _open_store(settings)
    root = root_provider_from_spec(settings.root_key_spec)
    try:
        if await store.get_meta(ACTIVE_DK) is None:
            raise StartupError(
                f"no pyehsm store with a domain key at {store_location(settings)}: start pyehsm there first"
            )
        keyring = await open_keyring(store, root)
        yield Opened(store, root, keyring)
    finally:
        root.close()
        await store.close()


def store_location(settings: Settings) -> str:
    return settings.store.split("@")[-1] if settings.store else str(settings.sqlite_path)


def run_or_fail(work: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(work)
    except StartupError as exc:
        fail(exc)


# -- root key ----------------------------------------------------------------------------------------
@click.group("root-key")
def root_key() -> None:
    """Root key custody: create a provider's key, rotate (re-wrap the domain keys) to another."""


@root_key.command("generate")
@click.argument("spec")
def root_key_generate(spec: str) -> None:
    """Create the root key SPEC names: a non-extractable AES-256 key in a PKCS#11 token, or a key file."""
    provider = root_provider_from_spec(spec)
    try:
        if isinstance(provider, Pkcs11RootKey):
            provider.generate()
        elif isinstance(provider, FileRootKey):
            if provider.path.exists():
                raise StartupError(f"root key file {provider.path} already exists")
            provider.configure(None)
        else:
            raise StartupError("a passphrase root key has nothing to generate: it is derived from the passphrase")
    except StartupError as exc:
        fail(exc)
    finally:
        provider.close()
    click.echo(f"created root key {provider.describe()}")


@root_key.command("rotate")
@click.option("--to", "target", required=True, help="The new root key provider spec (file:, passphrase, pkcs11:).")
@_data_dir
@store_option
@_root_key
def root_key_rotate(target: str, data_dir: Path | None, store: str | None, root_key: str | None) -> None:
    """Re-wrap the domain keys under a new root key (O(1)); the old one is no longer needed afterwards.

    Restart every node with --root-key set to the new spec. For a passphrase -> passphrase rotation give
    the new passphrase in another variable: --to 'passphrase:env=PYEHSM_NEW_PASSPHRASE'.
    """
    settings = base_settings(data_dir, store, root_key)
    new = root_provider_from_spec(target)

    async def run() -> int:
        old = root_provider_from_spec(settings.root_key_spec)
        if isinstance(old, PassphraseRootKey) and isinstance(new, PassphraseRootKey) and old.env_name == new.env_name:
            raise StartupError(
                f"old and new passphrase would both come from {old.env_name}: "
                "give the new one in another variable, e.g. --to 'passphrase:env=PYEHSM_NEW_PASSPHRASE'"
            )
        s = await _open_store(settings)
        try:
            if await s.get_meta(ACTIVE_DK) is None:
                raise StartupError(f"no pyehsm store with a domain key at {store_location(settings)}")
            return await rotate_root(s, old, new)
        finally:
            old.close()
            new.close()
            await s.close()

    try:
        count = asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    click.echo(
        f"re-wrapped {count} domain key(s) under {new.describe()}; restart every node with "
        f"--root-key '{target}' (the old root key is no longer needed)"
    )


# -- domain key ---------------------------------------------------------------------------------------
@click.group("domain-key")
def domain_key() -> None:
    """Domain key rotation: a new domain key, every wrapped value re-wrapped online."""


def _describe_state(state: RotationState | None) -> str:
    if state is None:
        return "no rotation yet"
    return f"rotation to domain key {state.target}: {state.phase}"


@domain_key.command("rotate")
@click.option("--resume", is_flag=True, help="Continue the unfinished rotation (or re-run a pass after one).")
@click.option(
    "--propagation-seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_PROPAGATION_MS / 1000,
    show_default=True,
    help=(
        "How long running nodes get to load the new domain key before it is used: at least "
        f"{MIN_PROPAGATION_MS // 1000} s (nodes refresh every {REFRESH_SECONDS:g} s), or 0 when no other node "
        "serves the store."
    ),
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH, show_default=True)
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Stop after N batches (resume later).")
@click.option("--background", is_flag=True, help="Only create the key; the running nodes do the rest.")
@_data_dir
@store_option
@_root_key
def domain_key_rotate(
    resume: bool,
    propagation_seconds: float,
    batch_size: int,
    max_batches: int | None,
    background: bool,
    data_dir: Path | None,
    store: str | None,
    root_key: str | None,
) -> None:
    """Create domain key n+1, make it active and re-wrap every key, apikey and secrets key under it.

    Safe while nodes serve (they load the new key within a few seconds and help re-wrap) and after a
    crash (`--resume`). Older domain keys stay in the store, wrapped by the root key.
    """
    settings = base_settings(data_dir, store, root_key)

    async def run() -> None:
        async with opened(settings) as o:
            rotation = DomainKeyRotation(o.store, o.root, o.keyring, SystemClock(), batch_size)
            if resume:
                state = await read_state(o.store)
                if state is None:
                    raise StartupError("there is no domain key rotation to resume")
                if state.phase == "done":  # a straggler pass: values a lagging node wrote under an older key
                    report = await rotation.rewrap_pass(o.keyring.active_dk_id, max_batches)
                    click.echo(f"re-wrapped {report.rewrapped} value(s) under domain key {o.keyring.active_dk_id}")
                    return
            else:
                state = await rotation.begin(int(propagation_seconds * 1000))
                click.echo(f"created domain key {state.target}")
                if not state.propagation_ms:
                    click.echo(
                        "propagation 0: assuming no other node serves this store (if one does, run "
                        "`pyehsm domain-key rotate --resume` once every node has loaded the new domain key)"
                    )
            if background:
                click.echo("the running nodes activate it and re-wrap every value (see `pyehsm domain-key status`)")
                return
            total = 0
            while True:
                before = state
                state = await rotation.step(max_batches) or before
                total += rotation.last_report.rewrapped if rotation.last_report else 0
                if state.phase == "done":
                    click.echo(f"domain key {state.target} is active; re-wrapped {total} value(s)")
                    return
                if max_batches is not None and state.phase == "rewrapping":
                    click.echo(
                        f"stopped after {max_batches} batch(es), {total} value(s) re-wrapped; "
                        "continue with `pyehsm domain-key rotate --resume`"
                    )
                    return
                wait = rotation.wait_ms(state) / 1000
                if wait > 0:
                    click.echo(f"{_describe_state(state)}; waiting {wait:.0f} s for every node to catch up")
                    await asyncio.sleep(min(wait, 5.0))

    run_or_fail(run())


@domain_key.command("status")
@_data_dir
@store_option
def domain_key_status(data_dir: Path | None, store: str | None) -> None:
    """The active domain key, the rotation state and how many values each domain key wraps."""
    settings = base_settings(data_dir, store, None)

    async def run() -> None:
        s = await _open_store(settings)
        try:
            active = await s.get_meta(ACTIVE_DK)
            kind = await s.get_meta(ROOT_KIND)
            click.echo(f"root key: {kind.decode() if kind else 'file'}")
            click.echo(f"active domain key: {active.decode() if active else 'none'}")
            click.echo(_describe_state(await read_state(s)))
            for name, per_dk in (await wrapped_counts(s)).items():
                spread = ", ".join(f"dk {dk}: {n}" for dk, n in sorted(per_dk.items())) or "none"
                click.echo(f"{name}: {spread}")
        finally:
            await s.close()

    run_or_fail(run())


COMMANDS = [root_key, domain_key]
