"""`pyehsm mac generate`, `pyehsm mac verify` (GenerateMac / VerifyMac with EH_HMAC keys) and
`pyehsm random N` (GenerateRandom)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import base64_input_option, check_size, emit_binary, emit_json, out_option, raw_option, read_data
from pyehsm.client.operations import DEFAULT_MAC_ALGORITHM
from pyehsm.crypto.family import MAC_ALGORITHMS

_algorithm_option = click.option(
    "--algorithm",
    "-a",
    type=click.Choice(tuple(MAC_ALGORITHMS)),
    default=DEFAULT_MAC_ALGORITHM,
    show_default=True,
    help="The macAlgorithm.",
)


@click.group("mac")
def mac_group() -> None:
    """MACs with EH_HMAC keys (GenerateMac, VerifyMac)."""


@mac_group.command("generate")
@click.option("--keyid", "-k", required=True)
@click.argument("message")
@_algorithm_option
@raw_option
@out_option
@with_connection()
def generate(conn: Connection, keyid: str, message: str, algorithm: str, raw: bool, out: Path | None) -> None:
    """The MAC of MESSAGE (text, - for stdin, @file; at most 6144 bytes) (GenerateMac)."""
    data = read_data(message, base64_literal=False)
    check_size(data, "mac generate", "MAC a digest of the data instead")
    with conn.client() as client:
        tag = client.generate_mac(keyid, data, algorithm)
    emit_binary(conn, "mac", tag, raw, out, keyid=keyid)


@mac_group.command("verify")
@click.option("--keyid", "-k", required=True)
@click.option("--mac", "-m", "tag", required=True, help="base64, or @file / - with the MAC (raw or base64).")
@click.argument("message")
@_algorithm_option
@base64_input_option
@with_connection()
def verify(conn: Connection, keyid: str, tag: str, message: str, algorithm: str, base64_input: bool) -> None:
    """Verify the MAC of MESSAGE (VerifyMac). Exit code 1 when it does not verify."""
    if tag == "-" and message == "-":
        raise click.UsageError("the message and --mac cannot both come from stdin")
    mac = read_data(tag, base64_literal=True, base64_input=base64_input)
    data = read_data(message, base64_literal=False)
    check_size(data, "mac verify", "MAC a digest of the data instead")
    with conn.client() as client:
        valid = client.verify_mac(keyid, data, mac, algorithm)
    if conn.output == "json":
        emit_json({"keyid": keyid, "valid": valid})
    else:
        click.echo("valid" if valid else "invalid: the MAC does not verify")
    if not valid:
        sys.exit(1)


@click.command("random")
@click.argument("number_of_bytes", metavar="N", type=int)
@raw_option
@out_option
@with_connection()
def random_bytes(conn: Connection, number_of_bytes: int, raw: bool, out: Path | None) -> None:
    """N (1 to 1024) random bytes from the server (GenerateRandom)."""
    with conn.client() as client:
        data = client.generate_random(number_of_bytes)
    emit_binary(conn, "random", data, raw, out)


COMMANDS: list[click.Command] = [mac_group, random_bytes]
