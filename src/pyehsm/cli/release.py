"""`pyehsm key release-policy ...` and `pyehsm secret release-policy ...`: the release policies of keys and
secrets (docs/key-release.md). `put` reads the policy document from a file or `-` (stdin); changing or removing
an existing policy needs `--bundle`, a JSON attestation bundle ({quote, nonce, recipientPublicKey}, base64)
made inside the workload (pyehsm.client.release.Recipient.bundle)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import emit_json
from pyehsm.cli.keys import key_group
from pyehsm.cli.secrets import secret_group
from pyehsm.client.models import unb64
from pyehsm.client.release import Bundle, ReleasePolicyInfo


def _read_text(source: str) -> str:
    return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")


def _bundle(source: str | None) -> Bundle | None:
    if source is None:
        return None
    try:
        fields: dict[str, Any] = json.loads(_read_text(source))
        return Bundle(unb64(fields["quote"]), unb64(fields["nonce"]), unb64(fields["recipientPublicKey"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"not an attestation bundle ({exc})", param_hint="--bundle") from None


def _emit(conn: Connection, info: ReleasePolicyInfo) -> None:
    if conn.output == "json":
        emit_json({"name": info.name, "policyId": info.policy_id, "releasePolicy": info.policy})
    elif info.policy is None:
        click.echo(f"{info.name}: no release policy")
    else:
        click.echo(f"{info.name}: {info.policy_id}")
        click.echo(json.dumps(info.policy, indent=2, sort_keys=True))


_BUNDLE = click.option("--bundle", "bundle_file", default=None, metavar="FILE", help="Attestation bundle (JSON).")


@key_group.group("release-policy")
def key_release_policy() -> None:
    """A key's release policy: who may receive its plaintext (docs/key-release.md)."""


@key_release_policy.command("put")
@click.argument("keyid")
@click.argument("policy_file", metavar="POLICY_FILE")
@_BUNDLE
@with_connection()
def key_policy_put(conn: Connection, keyid: str, policy_file: str, bundle_file: str | None) -> None:
    """Set the release policy of KEYID from POLICY_FILE (JSON; `-`: stdin) (PutKeyReleasePolicy)."""
    with conn.client() as client:
        _emit(conn, client.put_key_release_policy(keyid, _read_text(policy_file), _bundle(bundle_file)))


@key_release_policy.command("get")
@click.argument("keyid")
@with_connection()
def key_policy_get(conn: Connection, keyid: str) -> None:
    """Show the release policy of KEYID (GetKeyReleasePolicy)."""
    with conn.client() as client:
        _emit(conn, client.get_key_release_policy(keyid))


@key_release_policy.command("delete")
@click.argument("keyid")
@_BUNDLE
@with_connection()
def key_policy_delete(conn: Connection, keyid: str, bundle_file: str | None) -> None:
    """Remove the release policy of KEYID (DeleteKeyReleasePolicy; needs --bundle meeting it)."""
    with conn.client() as client:
        _emit(conn, client.delete_key_release_policy(keyid, _bundle(bundle_file)))


@secret_group.group("release-policy")
def secret_release_policy() -> None:
    """A secret's release policy: who may receive its value (docs/key-release.md)."""


@secret_release_policy.command("put")
@click.argument("secret_name")
@click.argument("policy_file", metavar="POLICY_FILE")
@_BUNDLE
@with_connection()
def secret_policy_put(conn: Connection, secret_name: str, policy_file: str, bundle_file: str | None) -> None:
    """Set the release policy of SECRET_NAME from POLICY_FILE (JSON; `-`: stdin) (PutSecretReleasePolicy)."""
    with conn.client() as client:
        _emit(conn, client.put_secret_release_policy(secret_name, _read_text(policy_file), _bundle(bundle_file)))


@secret_release_policy.command("get")
@click.argument("secret_name")
@with_connection()
def secret_policy_get(conn: Connection, secret_name: str) -> None:
    """Show the release policy of SECRET_NAME (GetSecretReleasePolicy)."""
    with conn.client() as client:
        _emit(conn, client.get_secret_release_policy(secret_name))


@secret_release_policy.command("delete")
@click.argument("secret_name")
@_BUNDLE
@with_connection()
def secret_policy_delete(conn: Connection, secret_name: str, bundle_file: str | None) -> None:
    """Remove the release policy of SECRET_NAME (DeleteSecretReleasePolicy; needs --bundle meeting it)."""
    with conn.client() as client:
        _emit(conn, client.delete_secret_release_policy(secret_name, _bundle(bundle_file)))


COMMANDS: list[click.Command] = []  # the groups hang under `pyehsm key` and `pyehsm secret`
