"""Backups: `pyehsm backup FILE`, `pyehsm restore FILE` (on a server machine, like cli/rootkey.py).

`pyehsm backup FILE` copies the SQLite database with SQLite's online backup API (a consistent
snapshot while the server runs). A snapshot holds only wrapped values (key material, apikeys and the
domain keys are all wrapped); it is useless without the root key, which it never contains: keep the
root key (file, passphrase or token) separately. For PostgreSQL use the database's own tools, e.g.
``pg_dump --format=custom --file=pyehsm.dump "$PYEHSM_STORE"`` and ``pg_restore --dbname=... pyehsm.dump``
into an empty database (the same properties hold: only wrapped values, useless without the root key).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import click

from pyehsm.cli.rootkey import run_or_fail, store_option
from pyehsm.cli.server import base_settings, data_dir_option, done, fail, output_option
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.keyring.domain import ACTIVE_DK, ROOT_KIND
from pyehsm.store.sqlite import SqliteStore, connect, migrate

_data_dir = data_dir_option


def _sqlite_path(settings: Settings) -> Path:
    return Path(settings.store.removeprefix("sqlite:")) if settings.store else settings.sqlite_path


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@_data_dir
@store_option
@output_option
def backup(file: Path, data_dir: Path | None, store: str | None, output: str) -> None:
    """Write a consistent snapshot of the SQLite store to FILE (0600); safe while the server runs.

    The snapshot holds only wrapped values and never the root key: keep that separately. PostgreSQL:
    use `pg_dump --format=custom` (see the module documentation).
    """
    settings = base_settings(data_dir, store, None)
    if settings.store and not settings.store.startswith("sqlite:"):
        fail(
            StartupError(
                "backup copies the embedded SQLite store; for PostgreSQL run "
                '`pg_dump --format=custom --file=FILE "$PYEHSM_STORE"` (it too holds only wrapped values)'
            )
        )
    if file.exists():
        fail(StartupError(f"{file} already exists; pick a new file name"))
    source = _sqlite_path(settings)
    if not source.is_file():
        fail(StartupError(f"no pyehsm store at {source}"))

    async def run() -> None:
        s = SqliteStore(source)
        await s.open()
        try:
            if await s.get_meta(ACTIVE_DK) is None:
                raise StartupError(f"no pyehsm store with a domain key at {source}")
            s.backup_to(file)
        finally:
            await s.close()
        check = _inspect_snapshot(file)
        done(
            f"wrote {file}: schema {check.schema}, {check.apps} app(s), {check.keys} key(s), "
            f"domain key {check.active_dk}; it is useless without the {check.root_kind} root key (not included)",
            file=str(file),
            schema=check.schema,
            apps=check.apps,
            keys=check.keys,
            domain_key=check.active_dk,
            root_kind=check.root_kind,
        )

    run_or_fail(run())


@dataclass(frozen=True)
class SnapshotInfo:
    schema: int
    apps: int
    keys: int
    active_dk: int
    root_kind: str


def _inspect_snapshot(file: Path) -> SnapshotInfo:
    """Check that FILE is an intact pyehsm SQLite snapshot and summarise it (read-only)."""
    if not file.is_file():
        raise StartupError(f"{file} does not exist")
    try:
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    except sqlite3.Error:
        raise StartupError(f"{file} is not a SQLite database") from None
    try:
        if conn.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            raise StartupError(f"{file} is damaged (SQLite integrity check failed)")
        schema = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
        meta = dict(conn.execute("SELECT name, value FROM meta WHERE name IN (?, ?)", (ACTIVE_DK, ROOT_KIND)))
        apps = int(conn.execute("SELECT COUNT(*) FROM apps").fetchone()[0])
        keys = int(conn.execute("SELECT COUNT(*) FROM keys").fetchone()[0])
    except sqlite3.Error:
        raise StartupError(f"{file} is not a pyehsm snapshot") from None
    finally:
        conn.close()
    if ACTIVE_DK not in meta:
        raise StartupError(f"{file} is not a pyehsm snapshot (no domain key)")
    kind = bytes(meta[ROOT_KIND]).decode() if ROOT_KIND in meta else "file"
    return SnapshotInfo(schema, apps, keys, int(bytes(meta[ACTIVE_DK]).decode()), kind)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@_data_dir
@store_option
@output_option
def restore(file: Path, data_dir: Path | None, store: str | None, output: str) -> None:
    """Bring a `pyehsm backup` snapshot back into a new data directory (never over an existing store).

    Start pyehsm on it with the root key the snapshot was made with.
    """
    settings = base_settings(data_dir, store, None)
    if settings.store and not settings.store.startswith("sqlite:"):
        fail(StartupError("restore writes the embedded SQLite store; for PostgreSQL use pg_restore"))
    target = _sqlite_path(settings)
    try:
        info = _inspect_snapshot(file)
        if target.exists():
            raise StartupError(f"{target} already exists: restore only into a new data directory")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        dest = connect(target)  # created 0600
        try:
            source.backup(dest)
            migrate(dest)
        finally:
            source.close()
            dest.close()
    except StartupError as exc:
        fail(exc)
    done(
        f"restored {info.apps} app(s) and {info.keys} key(s) into {target}; start pyehsm with the "
        f"{info.root_kind} root key the snapshot was made with",
        apps=info.apps,
        keys=info.keys,
        store=str(target),
    )


COMMANDS = [backup, restore]
