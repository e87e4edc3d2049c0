"""`pyehsm key describe|set-description|tag|untag|tags|schedule-deletion|cancel-deletion` and `pyehsm alias ...`
(docs/key-metadata.md). Every KEYID argument also takes an alias (alias/<name>)."""

from __future__ import annotations

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import emit_done, emit_json, emit_table, iso
from pyehsm.cli.keys import key_group


@key_group.command("describe")
@click.argument("keyid")
@with_connection()
def key_describe(conn: Connection, keyid: str) -> None:
    """Every piece of a key's metadata, never its material (DescribeKey)."""
    with conn.client() as client:
        d = client.describe_key(keyid)
    if conn.output == "json":
        emit_json(dict(d.raw))
        return
    rows = [
        ("keyid", d.keyid),
        ("keyspec", d.keyspec),
        ("usage", d.keyusage),
        ("origin", d.origin),
        ("state", d.state),
        ("description", d.description),
        ("created", iso(d.creation_date)),
        ("primary version", f"{d.primary_version} of {d.version_count}"),
        ("rotation", f"every {d.rotation_period_days} days" if d.rotation_period_days else "off"),
        ("next rotation", iso(d.next_rotation_date)),
        ("aliases", ", ".join(d.aliases)),
        ("tags", ", ".join(f"{k}={v}" for k, v in d.tags.items())),
        ("deletion date", iso(d.deletion_date)),
    ]
    emit_table(rows, ("field", "value"))


@key_group.command("set-description")
@click.argument("keyid")
@click.argument("description")
@with_connection()
def key_set_description(conn: Connection, keyid: str, description: str) -> None:
    """Set a key's description; "" clears it (UpdateKeyDescription)."""
    with conn.client() as client:
        client.update_key_description(keyid, description)
    emit_done(conn, f"described {keyid}", keyid=keyid)


@key_group.command("tag")
@click.argument("keyid")
@click.argument("tags", nargs=-1, required=True, metavar="KEY=VALUE...")
@with_connection()
def key_tag(conn: Connection, keyid: str, tags: tuple[str, ...]) -> None:
    """Add or overwrite tags (TagKey): pyehsm key tag KEYID env=prod team=payments."""
    parsed: dict[str, str] = {}
    for tag in tags:
        name, sep, value = tag.partition("=")
        if not sep or not name:
            raise click.UsageError(f"a tag is KEY=VALUE, not {tag!r}")
        parsed[name] = value
    with conn.client() as client:
        client.tag_key(keyid, parsed)
    emit_done(conn, f"tagged {keyid}", keyid=keyid)


@key_group.command("untag")
@click.argument("keyid")
@click.argument("tag_keys", nargs=-1, required=True, metavar="KEY...")
@with_connection()
def key_untag(conn: Connection, keyid: str, tag_keys: tuple[str, ...]) -> None:
    """Remove tags by key (UntagKey)."""
    with conn.client() as client:
        client.untag_key(keyid, list(tag_keys))
    emit_done(conn, f"untagged {keyid}", keyid=keyid)


@key_group.command("tags")
@click.argument("keyid")
@with_connection()
def key_tags(conn: Connection, keyid: str) -> None:
    """List a key's tags (ListKeyTags)."""
    with conn.client() as client:
        tags = client.list_key_tags(keyid)
    if conn.output == "json":
        emit_json(tags)
    else:
        emit_table(sorted(tags.items()), ("key", "value"))


@key_group.command("schedule-deletion")
@click.argument("keyid")
@click.option("--days", type=click.IntRange(7, 30), default=30, show_default=True, help="The pending window.")
@with_connection()
def key_schedule_deletion(conn: Connection, keyid: str, days: int) -> None:
    """Refuse the key at once and delete it after the window (ScheduleKeyDeletion); cancel-deletion undoes it."""
    with conn.client() as client:
        when = client.schedule_key_deletion(keyid, days)
    emit_done(conn, f"{keyid} will be deleted at {iso(when)}", keyid=keyid, deletionDate=when)


@key_group.command("cancel-deletion")
@click.argument("keyid")
@with_connection()
def key_cancel_deletion(conn: Connection, keyid: str) -> None:
    """Cancel a scheduled deletion (CancelKeyDeletion): the key comes back disabled; enable it to use it."""
    with conn.client() as client:
        state = client.cancel_key_deletion(keyid)
    emit_done(conn, f"deletion of {keyid} cancelled; the key is {state}", keyid=keyid, state=state)


@click.group("alias")
def alias_group() -> None:
    """Key aliases: alias/<name> names for this app's keys, usable wherever a KEYID is."""


@alias_group.command("create")
@click.argument("alias")
@click.argument("keyid")
@with_connection()
def alias_create(conn: Connection, alias: str, keyid: str) -> None:
    """Name a key (CreateAlias)."""
    with conn.client() as client:
        client.create_alias(alias, keyid)
    emit_done(conn, f"{alias} -> {keyid}", alias=alias, keyid=keyid)


@alias_group.command("update")
@click.argument("alias")
@click.argument("keyid")
@with_connection()
def alias_update(conn: Connection, alias: str, keyid: str) -> None:
    """Point an alias at another key (UpdateAlias)."""
    with conn.client() as client:
        client.update_alias(alias, keyid)
    emit_done(conn, f"{alias} -> {keyid}", alias=alias, keyid=keyid)


@alias_group.command("delete")
@click.argument("alias")
@with_connection()
def alias_delete(conn: Connection, alias: str) -> None:
    """Delete an alias; the key stays (DeleteAlias)."""
    with conn.client() as client:
        client.delete_alias(alias)
    emit_done(conn, f"deleted {alias}", alias=alias)


@alias_group.command("list")
@click.option("--keyid", default=None, help="Only this key's aliases.")
@with_connection()
def alias_list(conn: Connection, keyid: str | None) -> None:
    """List this app's aliases (ListAliases, every page)."""
    aliases, marker = [], None
    with conn.client() as client:
        while True:
            page = client.list_aliases(keyid, 100, marker)
            aliases += page.aliases
            if page.next_marker is None:
                break
            marker = page.next_marker
    if conn.output == "json":
        emit_json([dict(a.raw) for a in aliases])
    else:
        emit_table([(a.alias, a.keyid, iso(a.creation_date)) for a in aliases], ("alias", "keyid", "created"))


COMMANDS: list[click.Command] = [alias_group]
