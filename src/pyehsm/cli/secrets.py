"""`pyehsm secret ...`: the secret manager (docs/secrets.md)."""

from __future__ import annotations

from pathlib import Path

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import emit_done, emit_fields, emit_json, emit_table, iso, out_option, read_text, write_bytes


@click.group("secret")
def secret_group() -> None:
    """The secrets manager: create, get, put, list, describe, delete, restore."""


@secret_group.command("create")
@click.argument("name")
@click.argument("value")
@click.option("--description", default=None)
@click.option("--keyid", "encryption_key_id", default=None, help="The CMK that encrypts it (default: the app's).")
@click.option("--rotation-interval", default=None, help="e.g. 30d, 12h (6 hours to 8760 hours).")
@with_connection()
def secret_create(
    conn: Connection,
    name: str,
    value: str,
    description: str | None,
    encryption_key_id: str | None,
    rotation_interval: str | None,
) -> None:
    """Create secret NAME with VALUE (text, - for stdin, @file) (CreateSecret)."""
    data = read_text(value)
    with conn.client() as client:
        client.create_secret(name, data, encryption_key_id, description, rotation_interval)
    emit_done(conn, f"created secret {name}", secretName=name)


@secret_group.command("put")
@click.argument("name")
@click.argument("value")
@with_connection()
def secret_put(conn: Connection, name: str, value: str) -> None:
    """Store VALUE as the new version of secret NAME (PutSecretValue)."""
    data = read_text(value)
    with conn.client() as client:
        client.put_secret_value(name, data)
    emit_done(conn, f"stored a new version of {name}", secretName=name)


@secret_group.command("get")
@click.argument("name")
@click.option("--version", "version_id", type=click.IntRange(min=1), default=None, help="Default: the latest.")
@click.option("--raw", is_flag=True, help="Print only the value, without a trailing newline.")
@out_option
@with_connection()
def secret_get(conn: Connection, name: str, version_id: int | None, raw: bool, out: Path | None) -> None:
    """Print the value of secret NAME (GetSecretValue)."""
    with conn.client() as client:
        value = client.get_secret_value(name, version_id)
    if out is not None:
        write_bytes(out, value.secret_data.encode("utf-8"), private=True)
    elif raw:
        click.echo(value.secret_data, nl=False)
    elif conn.output == "json":
        emit_json(dict(value.raw))
    else:
        click.echo(value.secret_data)


@secret_group.command("list")
@click.option("--name", default=None, help="Only this secret.")
@with_connection()
def secret_list(conn: Connection, name: str | None) -> None:
    """List this app's secrets (ListSecrets)."""
    with conn.client() as client:
        listing = client.list_secrets(name)
    if conn.output == "json":
        emit_json(dict(listing.raw))
        return
    rows = [(s.secret_name, iso(s.create_time), iso(s.planned_delete_time), s.description) for s in listing.secrets]
    emit_table(rows, ("name", "created", "deletion", "description"))


@secret_group.command("versions")
@click.argument("name")
@with_connection()
def secret_versions(conn: Connection, name: str) -> None:
    """List the versions of secret NAME (ListSecretVersionIds)."""
    with conn.client() as client:
        versions = client.list_secret_version_ids(name)
    if conn.output == "json":
        emit_json(dict(versions.raw))
        return
    emit_table([(v.version_id, iso(v.create_time)) for v in versions.versions], ("version", "created"))


@secret_group.command("describe")
@click.argument("name")
@with_connection()
def secret_describe(conn: Connection, name: str) -> None:
    """Metadata of secret NAME, never its value (DescribeSecret)."""
    with conn.client() as client:
        d = client.describe_secret(name)
    if conn.output == "json":
        emit_json(dict(d.raw))
        return
    emit_fields(
        conn,
        {
            "name": d.secret_name,
            "description": d.description,
            "created": iso(d.create_time),
            "deletion": iso(d.planned_delete_time),
            "rotation_interval": d.rotation_interval,
            "last_rotation": iso(d.last_rotation_date),
            "next_rotation": iso(d.next_rotation_date),
        },
    )


@secret_group.command("update-description")
@click.argument("name")
@click.argument("description")
@with_connection()
def secret_update_description(conn: Connection, name: str, description: str) -> None:
    """Replace the description of secret NAME (UpdateSecretDesc)."""
    with conn.client() as client:
        client.update_secret_desc(name, description)
    emit_done(conn, f"updated the description of {name}", secretName=name)


@secret_group.command("delete")
@click.argument("name")
@click.option("--recovery-days", type=click.IntRange(1, 365), default=None, help="Default 30.")
@click.option("--force", is_flag=True, help="Delete at once, without a recovery window.")
@with_connection()
def secret_delete(conn: Connection, name: str, recovery_days: int | None, force: bool) -> None:
    """Schedule the deletion of secret NAME, or delete it at once with --force (DeleteSecret)."""
    if force and recovery_days is not None:
        raise click.UsageError("--force and --recovery-days exclude each other")
    with conn.client() as client:
        client.delete_secret(name, recovery_days, True if force else None)
    emit_done(conn, f"deleted {name}" if force else f"scheduled {name} for deletion", secretName=name)


@secret_group.command("restore")
@click.argument("name")
@with_connection()
def secret_restore(conn: Connection, name: str) -> None:
    """Cancel the scheduled deletion of secret NAME (RestoreSecret)."""
    with conn.client() as client:
        client.restore_secret(name)
    emit_done(conn, f"restored {name}", secretName=name)


COMMANDS: list[click.Command] = [secret_group]
