"""`pyehsm sign` and `pyehsm verify`, for messages (up to 6144 bytes, sent to the server) and, with
``--file``, for files of any size: the file is hashed here and only the digest is sent (EH_DIGEST).

The digest is the one the key's Sign expects: ``--digest``, else the keyspec's own (EH_SHA_256 for RSA
and EC, EH_SM3 for SM2). SM2 keys sign every message as SM3(Z_A || message) (the SM2 signature scheme with
the default user id, for EH_RAW and EH_DIGEST alike, as Intel's server does), so for SM2 the value signed is
the 32-byte ``SM3(file)``: the signature verifies as an SM2 signature over that digest, e.g.
``openssl dgst -sm3 -binary FILE > d; openssl dgst -sm3 -sigopt distid:1234567812345678 -verify pub.pem
-signature sig d``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
from cryptography.hazmat.primitives import hashes

from pyehsm.cli.connection import Connection, with_connection
from pyehsm.cli.io import base64_input_option, check_size, emit_binary, emit_json, out_option, raw_option, read_data
from pyehsm.client import Client
from pyehsm.client.operations import DEFAULT_DIGEST, DEFAULT_MESSAGE_TYPE, DEFAULT_SIGN_PADDING
from pyehsm.crypto.keyspecs import DIGEST_NAMES, KEYSPECS, MESSAGE_TYPES, PADDING_NAMES, Operation

CHUNK = 1 << 20
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}

_digest_option = click.option(
    "--digest",
    type=click.Choice(DIGEST_NAMES),
    default=DEFAULT_DIGEST,
    help="Default: EH_SM3 for SM2, else EH_SHA_256.",
)
_padding_option = click.option(
    "--padding",
    type=click.Choice(PADDING_NAMES),
    default=DEFAULT_SIGN_PADDING,
    show_default=True,
    help="RSA padding (ignored for EC and SM2).",
)
_message_type_option = click.option(
    "--message-type",
    type=click.Choice(MESSAGE_TYPES),
    default=DEFAULT_MESSAGE_TYPE,
    show_default=True,
    help="EH_DIGEST: MESSAGE is already a digest.",
)
_file_option = click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="Sign a file of any size (- for stdin): hashed here, the digest signed (EH_DIGEST).",
)
_context_option = click.option(
    "--context",
    default=None,
    help="ML-DSA only: the FIPS 204 context string (text or @file; at most 255 bytes).",
)
_WAY_ROUND = "hash it here and sign the digest with `--file PATH` (any size)"


def _chunks(path: Path) -> Iterator[bytes]:
    if str(path) == "-":
        stream = sys.stdin.buffer
        while chunk := stream.read(CHUNK):
            yield chunk
        return
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None


def file_digest(client: Client, keyid: str, path: Path, digest: str | None) -> tuple[bytes, str]:
    """The digest of the file at ``path`` that Sign/Verify with EH_DIGEST expect for ``keyid``, and
    the digest_mode to send with it."""
    spec = next((KEYSPECS.get(k.keyspec) for k in client.list_key() if k.keyid == keyid), None)
    if spec is None:
        raise click.UsageError(f"key {keyid} is not among this app's keys (pyehsm key list)")
    if not (spec.supports(Operation.SIGN) and spec.supports(Operation.PUBLIC_KEY)):  # key pairs that sign
        raise click.UsageError(f"--file signs with RSA, EC and SM2 keys; {keyid} is {spec.name}")
    if "EH_DIGEST" not in spec.family.message_types:
        raise click.UsageError(f"--file signs a digest, and {spec.name} keys sign the message itself (EH_RAW)")
    mode = digest or spec.default_digest
    if mode not in spec.family.digests:
        raise click.UsageError(f"{spec.name} keys sign with {'EH_SM3' if 'EH_SM3' in spec.family.digests else 'SHA-2'}")
    hasher = hashes.Hash(_HASHES[mode]())
    for chunk in _chunks(path):
        hasher.update(chunk)
    return hasher.finalize(), mode


@click.command("sign")
@click.option("--keyid", "-k", required=True)
@click.argument("message", required=False)
@_file_option
@_digest_option
@_padding_option
@_message_type_option
@_context_option
@raw_option
@out_option
@with_connection()
def sign(
    conn: Connection,
    keyid: str,
    message: str | None,
    file: Path | None,
    digest: str | None,
    padding: str,
    message_type: str,
    context: str | None,
    raw: bool,
    out: Path | None,
) -> None:
    """Sign MESSAGE (text, - for stdin, @file; at most 6144 bytes) or --file FILE (any size) (Sign)."""
    if (message is None) == (file is None):
        raise click.UsageError("give either MESSAGE or --file")
    with conn.client() as client:
        if file is not None:
            data, digest = file_digest(client, keyid, file, digest)
            message_type = "EH_DIGEST"
        else:
            data = read_data(str(message), base64_literal=False)
            check_size(data, "sign", _WAY_ROUND)
        ctx = None if context is None else read_data(context, base64_literal=False)
        signature = client.sign(keyid, data, digest, padding, message_type, ctx)
    emit_binary(conn, "signature", signature, raw, out, keyid=keyid)


@click.command("verify")
@click.option("--keyid", "-k", required=True)
@click.option("--signature", "-s", required=True, help="base64, or @file / - with the signature (raw or base64).")
@click.argument("message", required=False)
@_file_option
@_digest_option
@_padding_option
@_message_type_option
@_context_option
@base64_input_option
@with_connection()
def verify(
    conn: Connection,
    keyid: str,
    signature: str,
    message: str | None,
    file: Path | None,
    digest: str | None,
    padding: str,
    message_type: str,
    context: str | None,
    base64_input: bool,
) -> None:
    """Verify SIGNATURE over MESSAGE or --file FILE (Verify). Exit code 1 when it does not verify."""
    if (message is None) == (file is None):
        raise click.UsageError("give either MESSAGE or --file")
    if signature == "-" and "-" in (message, str(file)):
        raise click.UsageError("the message and --signature cannot both come from stdin")
    sig = read_data(signature, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        if file is not None:
            data, digest = file_digest(client, keyid, file, digest)
            message_type = "EH_DIGEST"
        else:
            data = read_data(str(message), base64_literal=False)
            check_size(data, "verify", _WAY_ROUND)
        ctx = None if context is None else read_data(context, base64_literal=False)
        valid = client.verify(keyid, data, sig, digest, padding, message_type, ctx)
    if conn.output == "json":
        emit_json({"keyid": keyid, "valid": valid})
    else:
        click.echo("valid" if valid else "invalid: the signature does not verify")
    if not valid:
        sys.exit(1)


COMMANDS: list[click.Command] = [sign, verify]
