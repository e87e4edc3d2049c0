"""Moving data between stores: `pyehsm export FILE` and `pyehsm import FILE` (e.g. SQLite -> PostgreSQL).

Rows move exactly as stored: apikeys, key material and domain keys stay wrapped; nothing is unwrapped
to move it. The file is JSON Lines (0600): a header naming the schema version, then per table a
``{"table", "columns"}`` line and ``{"rows": [...]}`` batches (bytes as ``{"b64": ...}``), then an
``{"end": {table: count}}`` trailer, so a truncated file is refused. An import first opens the
export's domain keys with the given root key (a wrong root key loads nothing), then loads everything
into an empty store of the same schema version in one transaction, then proves the move by
unwrapping, through the target store, every domain-key-wrapped value: each key version's material,
apikey, secrets key and BYOK wrapping key (AES-GCM with the owner bound into the AAD: any changed
byte or misplaced row fails the check). Secret values themselves are sealed under data keys those
keys protect; they move as opaque bytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from pyehsm.cli.server import base_settings, data_dir_option, done, fail, output_option
from pyehsm.errors import StartupError
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.domain_key_rotation import AAD_BUILDERS, META_WRAPPED
from pyehsm.keyring.keyring import Keyring, UnwrapError
from pyehsm.keyring.root import RootKeyProvider, root_provider_from_spec
from pyehsm.store.base import WRAPPED_KINDS, PortableStore, Store, TableInfo
from pyehsm.store.sqlite import SqliteStore

FORMAT = "pyehsm-export"
FORMAT_VERSION = 1
BATCH_ROWS = 500


class DataError(StartupError):
    """An export or import that cannot proceed (bad file, wrong schema, non-empty target)."""


@dataclass
class ImportReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows imported
    verified: dict[str, int] = field(default_factory=dict)  # WRAPPED_KINDS kind -> values unwrapped


def table_order(tables: list[TableInfo]) -> list[TableInfo]:
    """Parents before children (foreign keys), ties by name: the order rows can be inserted in."""
    by_name = {t.name: t for t in tables}
    ordered: list[TableInfo] = []
    done: set[str] = set()
    while len(ordered) < len(tables):
        ready = sorted(n for n, t in by_name.items() if n not in done and (t.parents & by_name.keys()) <= done)
        if not ready:
            raise DataError("the store's foreign keys form a cycle; cannot order the tables for export")
        for name in ready:
            ordered.append(by_name[name])
            done.add(name)
    return ordered


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise DataError("export file holds a value of unknown type")
        return base64.b64decode(value["b64"], validate=True)
    return value


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def portable(store: Store) -> PortableStore:
    if not isinstance(store, PortableStore):
        raise DataError(f"the {store.kind} store cannot export or import")
    return store


async def export_store(store: Store, out: IO[str]) -> dict[str, int]:
    """Write every row of every persistent table of ``store`` to ``out``; return the row counts."""
    source = portable(store)
    counts: dict[str, int] = {}
    out.write(_line({"format": FORMAT, "version": FORMAT_VERSION, "schema": await source.schema_version()}))
    tables = table_order(await source.tables())
    async for table, rows in source.dump(tables, BATCH_ROWS):  # tables without rows are left out
        if table.name not in counts:
            out.write(_line({"table": table.name, "columns": list(table.columns)}))
            counts[table.name] = 0
        out.write(_line({"rows": [[_encode(v) for v in row] for row in rows]}))
        counts[table.name] += len(rows)
    out.write(_line({"end": counts}))
    return counts


def _records(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"export file line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise DataError(f"export file line {number} is not an object")
        yield record


async def import_store(store: Store, source: IO[str]) -> dict[str, int]:
    """Load an export into ``store`` (empty, same schema version) in one transaction; return row counts."""
    target = portable(store)
    records = _records(iter(source))
    header = next(records, None)
    if header is None or header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise DataError("not a pyehsm export file (or written by an incompatible pyehsm)")
    schema = await target.schema_version()
    if header.get("schema") != schema:
        raise DataError(
            f"the export has schema version {header.get('schema')} but the target store has {schema}: "
            "export and import with the same pyehsm version"
        )
    tables = {t.name: t for t in await target.tables()}
    for table in tables.values():
        if await target.count_rows(table):
            raise DataError(f"the target store is not empty (table {table.name} has rows): import needs a new store")
    counts: dict[str, int] = {}

    async def batches() -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        current: TableInfo | None = None
        for record in records:
            if "table" in record:
                name, columns = record["table"], tuple(record.get("columns", ()))
                known = tables.get(name)
                if known is None or set(columns) != set(known.columns) or len(columns) != len(known.columns):
                    raise DataError(f"export table {name!r} does not match the target store's schema")
                current = TableInfo(known.name, columns, known.parents)
                counts[name] = 0
            elif "rows" in record:
                if current is None:
                    raise DataError("export file has rows before any table")
                rows = [tuple(_decode(v) for v in row) for row in record["rows"]]
                if any(len(row) != len(current.columns) for row in rows):
                    raise DataError(f"export table {current.name!r} has a row with the wrong number of values")
                counts[current.name] += len(rows)
                yield current, rows
            elif "end" in record:
                if record["end"] != counts:
                    raise DataError("export file row counts do not match its trailer")
                return
            else:
                raise DataError("export file holds an unknown record")
        raise DataError("export file is truncated (no end record)")

    await target.load(batches())
    for name, expected in counts.items():
        if await target.count_rows(tables[name]) != expected:
            raise DataError(f"table {name} does not hold the imported rows")
    return counts


async def check_root_key(source: IO[str], root: RootKeyProvider, scratch: Path) -> None:
    """Open the export's domain keys with ``root`` before anything is loaded into the target.

    The export's meta rows go into a scratch SQLite store, where open_keyring checks the provider kind
    and unwraps every domain key: RootKeyMismatch (the wrapped DK's AEAD tag) when ``root`` is not the
    source's root key.
    """
    columns: tuple[str, ...] = ()
    in_meta = False
    rows: list[tuple[Any, ...]] = []
    for record in _records(iter(source)):
        if "table" in record:
            in_meta = record["table"] == "meta"
            if in_meta:
                columns = tuple(record.get("columns", ()))
        elif in_meta and "rows" in record:
            rows.extend(tuple(_decode(v) for v in row) for row in record["rows"])
    store = SqliteStore(scratch / "meta-check.db")
    await store.open()
    try:
        meta = next(t for t in await store.tables() if t.name == "meta")
        if set(columns or meta.columns) != set(meta.columns):
            raise DataError("export table 'meta' does not match this pyehsm's schema")

        async def batches() -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
            yield TableInfo("meta", columns or meta.columns, frozenset()), rows

        await store.load(batches())
        await open_keyring(store, root)
    finally:
        await store.close()


async def verify_store(store: Store, root: RootKeyProvider, report: ImportReport) -> None:
    """Unwrap every domain-key-wrapped value of ``store`` (every kind in WRAPPED_KINDS: key material,
    apikeys, secrets keys, BYOK wrapping keys; and the wrapped values kept in meta) with the AAD naming
    its owner; raise on the first one that fails. Values under a domain key the store lacks fail too."""
    keyring = await open_keyring(store, root)  # RootKeyMismatch when the root key is not the source's
    below = Keyring.dk_id_prefix(max(keyring.domain_key_ids()) + 1)  # under any domain key we hold
    for kind in WRAPPED_KINDS:
        aad_of = AAD_BUILDERS[kind]
        verified = 0
        after: tuple[str | int, ...] | None = None
        while rows := await store.list_wrapped(kind, below, after, BATCH_ROWS):
            for row in rows:
                try:
                    keyring.unwrap(row.wrapped, aad_of(row.owner))
                except UnwrapError:
                    raise DataError(f"{kind} {row.key} does not unwrap after the import") from None
                verified += 1
            after = rows[-1].key
        total = sum((await store.count_wrapped(kind)).values())
        if total != verified:
            raise DataError(f"{total - verified} {kind} values are wrapped under a domain key the store lacks")
        report.verified[kind] = verified
    meta_verified = 0
    for name, aad in META_WRAPPED.items():  # DK-wrapped values kept in meta (the BYOK token key)
        value = await store.get_meta(name)
        if value is not None:
            try:
                keyring.unwrap(value, aad)
            except UnwrapError:
                raise DataError(f"meta {name} does not unwrap after the import") from None
            meta_verified += 1
    report.verified["meta"] = meta_verified


def _create_private(path: Path) -> IO[str]:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DataError(f"{path} exists; refusing to overwrite it") from None
    return os.fdopen(fd, "w", encoding="utf-8")


@click.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@data_dir_option
@click.option("--store", default=None, help="Store URL to read (default: SQLite in the data dir).")
@output_option
def export_command(file: Path, data_dir: Path | None, store: str | None, output: str) -> None:
    """Write every row of the store to FILE (new, mode 0600), still wrapped."""
    from pyehsm.storage import open_store

    settings = base_settings(data_dir, store, None)

    async def run() -> dict[str, int]:
        source = open_store(settings)
        await source.open()
        try:
            with _create_private(file) as out:
                counts = await export_store(source, out)
                out.flush()
                os.fsync(out.fileno())
            return counts
        finally:
            await source.close()

    try:
        counts = asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    done(f"exported {sum(counts.values())} rows from {len(counts)} tables to {file}", file=str(file), rows=counts)


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@data_dir_option
@click.option("--store", default=None, help="Store URL to fill; it must be new (empty).")
@click.option("--root-key", default=None, help="The SOURCE's root key provider (default file:<data-dir>/root.key).")
@output_option
def import_command(file: Path, data_dir: Path | None, store: str | None, root_key: str | None, output: str) -> None:
    """Load FILE into an empty store, then unwrap every apikey and key version to verify it."""
    from pyehsm.storage import open_store

    settings = base_settings(data_dir, store, root_key)
    kind, _, arg = settings.root_key_spec.partition(":")
    if kind == "file" and not Path(arg).exists():
        fail(DataError(f"root key file {arg} does not exist: give the source's key with --root-key file:PATH"))

    async def run() -> ImportReport:
        root = root_provider_from_spec(settings.root_key_spec)
        target = open_store(settings)
        await target.open()
        report = ImportReport()
        try:
            with file.open(encoding="utf-8") as source, tempfile.TemporaryDirectory() as scratch:
                await check_root_key(source, root, Path(scratch))
                source.seek(0)
                report.rows = await import_store(target, source)
            try:
                await verify_store(target, root, report)
            except StartupError as exc:
                raise DataError(
                    f"the imported data failed verification ({exc}); the target store holds the rows: "
                    "drop it before importing again"
                ) from None
            return report
        finally:
            await target.close()
            root.close()

    try:
        report = asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    verified = ", ".join(f"{n} {kind}" for kind, n in report.verified.items())
    done(
        f"imported {sum(report.rows.values())} rows into {len(report.rows)} tables; verified by unwrapping: {verified}",
        rows=report.rows,
        verified=report.verified,
    )


COMMANDS = [export_command, import_command]
