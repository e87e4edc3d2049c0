"""Client commands: talk to a pyehsm (or any eHSM-KMS) server through the SDK.

    pyehsm app enroll --save                     # create an app, store it in the credentials file
    pyehsm key create EH_AES_GCM_256             # prints the keyid
    pyehsm encrypt --keyid K @report.pdf --out report.pdf.enc
    pyehsm decrypt --keyid K @report.pdf.enc --out report.pdf
    pyehsm secret create db-password -           # the value from stdin

Credentials: --appid/--apikey, else PYEHSM_APPID/PYEHSM_APIKEY, else the profile (--profile, default
"default") in ~/.config/pyehsm/credentials (an INI file that must not be readable by other users).
Server: --url, else PYEHSM_URL, else the profile's url, else http://127.0.0.1:9000/ehsm.

Data arguments: ``-`` reads stdin, ``@PATH`` reads a file, anything else is the value itself (text,
or base64 for ciphertexts and signatures). Files and stdin are raw bytes (``--base64-input``: base64
text). Binary results print as base64 unless ``--raw`` (bytes to stdout) or ``--out FILE``.

Exit codes: 0 success, 1 the server refused or could not be reached (message on stderr), 2 usage.
Under ``-o json`` errors are one JSON object ``{"error": {"message", ...}}`` on stderr.
Files of any size: ``pyehsm encrypt-file`` (cli/files.py), ``sign --file`` (cli/signing.py).
"""

from __future__ import annotations

import base64
import binascii
import configparser
import functools
import json
import os
import re
import ssl
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from pyehsm.client import Client, EhsmApiError, EhsmConnectionError
from pyehsm.client.models import b64
from pyehsm.client.operations import (
    DEFAULT_ASYMMETRIC_PADDING,
)
from pyehsm.crypto.keyspecs import (
    KEYSPEC_NAMES,
    ORIGIN_NAMES,
    PADDING_NAMES,
    USAGE_NAMES,
    WRAPPING_KEYSPEC_NAMES,
)

DEFAULT_URL = "http://127.0.0.1:9000/ehsm"
DEFAULT_PROFILE = "default"
F = TypeVar("F", bound=Callable[..., Any])


def default_credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pyehsm" / "credentials"


# -- credentials --------------------------------------------------------------------------------------
class CredentialsFileError(click.UsageError):
    """A credentials file problem (exit code 2)."""


def read_profile(path: Path, name: str, *, required: bool) -> dict[str, str]:
    """The ``name`` section of the credentials file; refuses a file other users may read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if required:
            raise CredentialsFileError(f"credentials file {path} does not exist") from None
        return {}
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsFileError(
            f"credentials file {path} is accessible by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise CredentialsFileError(f"credentials file {path} is not a valid INI file: {exc.message}") from None
    if not parser.has_section(name):
        if required:
            raise CredentialsFileError(f"profile {name!r} not found in {path}")
        return {}
    return dict(parser.items(name))


def write_profile(path: Path, name: str, values: dict[str, str]) -> None:
    """Add or replace the ``name`` section; the file is created 0600 in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        read_profile(path, name, required=False)  # refuses loose permissions
        parser.read(path, encoding="utf-8")
    parser[name] = values
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        parser.write(handle)


@dataclass(frozen=True)
class Connection:
    """What a client command needs: where, who, how to print."""

    url: str
    appid: str
    apikey: str
    output: str
    timeout: float
    verify: bool | str
    sign_action: bool = False

    def client(self) -> Client:
        return make_client(
            Client,
            self.url,
            self.appid,
            self.apikey,
            timeout=self.timeout,
            verify=self.verify,
            sign_action=self.sign_action,
        )


def make_client(factory: Callable[..., Client], url: str, *args: Any, verify: bool | str, **kwargs: Any) -> Client:
    """``factory(url, ...)`` (Client or Client.enroll), with a CA bundle that cannot be loaded reported
    as an error (exit code 1) rather than a traceback."""
    try:
        return factory(url, *args, verify=verify, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror or exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
        raise click.ClickException(f"cannot load the CA bundle {verify}: {reason}") from None


def _connection_options(f: F) -> F:
    options = [
        click.option(
            "--url", envvar="PYEHSM_URL", default=None, help="Server base URL ending in /ehsm. Env: PYEHSM_URL."
        ),
        click.option("--appid", envvar="PYEHSM_APPID", default=None, help="App id. Env: PYEHSM_APPID."),
        click.option(
            "--apikey",
            envvar="PYEHSM_APIKEY",
            default=None,
            help="App key (prefer the env or a profile). Env: PYEHSM_APIKEY.",
        ),
        click.option(
            "--profile", envvar="PYEHSM_PROFILE", default=None, help="Credentials profile (default: default)."
        ),
        click.option(
            "--credentials-file",
            envvar="PYEHSM_CREDENTIALS_FILE",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Credentials file (default ~/.config/pyehsm/credentials).",
        ),
        click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per attempt."),
        click.option(
            "--ca-bundle",
            "--ca-cert",
            "ca_bundle",
            envvar="PYEHSM_CA_BUNDLE",
            default=None,
            help="CA bundle (PEM) to verify the server's TLS certificate. Env: PYEHSM_CA_BUNDLE; profile: ca_bundle.",
        ),
        click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True),
        click.option(
            "--sign-action",
            is_flag=True,
            envvar="PYEHSM_SIGN_ACTION",
            help="Sign the Action into each request (pyehsm servers only). Env: PYEHSM_SIGN_ACTION.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _resolve(
    url: str | None,
    appid: str | None,
    apikey: str | None,
    profile: str | None,
    credentials_file: Path | None,
    *,
    need_credentials: bool = True,
) -> tuple[str, str, str, str]:
    path = credentials_file or default_credentials_path()
    values: dict[str, str] = {}
    if not (appid and apikey and url) or profile:
        values = read_profile(path, profile or DEFAULT_PROFILE, required=bool(profile) and need_credentials)
    url = url or values.get("url") or DEFAULT_URL
    appid = appid or values.get("appid", "")
    apikey = apikey or values.get("apikey", "")
    ca_bundle = values.get("ca_bundle", "")
    if need_credentials and not (appid and apikey):
        raise click.UsageError(
            "no credentials: give --appid and --apikey, set PYEHSM_APPID and PYEHSM_APIKEY, "
            f"or store a profile in {path} (pyehsm app enroll --save)"
        )
    return url, appid, apikey, ca_bundle


def with_connection(*, need_credentials: bool = True) -> Callable[[F], F]:
    """Adds the connection options; the command receives ``conn: Connection`` instead."""

    def decorate(f: F) -> F:
        @_connection_options
        @functools.wraps(f)
        def wrapper(
            url: str | None,
            appid: str | None,
            apikey: str | None,
            profile: str | None,
            credentials_file: Path | None,
            timeout: float,
            ca_bundle: str | None,
            output: str,
            sign_action: bool,
            **kwargs: Any,
        ) -> Any:
            with api_errors(output):
                base, app, key, profile_ca = _resolve(
                    url, appid, apikey, profile, credentials_file, need_credentials=need_credentials
                )
                conn = Connection(base, app, key, output, timeout, ca_bundle or profile_ca or True, sign_action)
                return f(conn, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def emit_error(output: str, message: str, exit_code: int, **fields: Any) -> NoReturn:
    """Print an error and exit: ``Error: ...`` on stderr, or under -o json the object
    ``{"error": {"message": ..., "type": ..., ...}}`` on stderr (stdout stays empty)."""
    if output == "json":
        click.echo(json.dumps({"error": {"message": message, **fields}}, ensure_ascii=False), err=True)
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(exit_code)


@contextmanager
def api_errors(output: str = "table") -> Iterator[None]:
    """API errors and unreachable servers: message on stderr, exit code 1. Under -o json usage errors
    raised by the command (bad input, no credentials) are JSON too, with exit code 2."""
    try:
        yield
    except EhsmApiError as exc:
        if output == "json":
            emit_error(output, exc.message, 1, code=exc.code, type=type(exc).__name__)
        emit_error(output, f"{exc.message} (code {exc.code}, {type(exc).__name__})", 1)
    except EhsmConnectionError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        emit_error(output, f"{exc}{cause}", 1, type=type(exc).__name__)
    except click.ClickException as exc:
        if output != "json":
            raise
        emit_error(output, exc.format_message(), exc.exit_code, type=type(exc).__name__)
    except click.Abort:
        if output != "json":
            raise
        emit_error(output, "aborted: not confirmed", 1, type="Aborted")


MAX_DATA_BYTES = 6144  # the most Encrypt, AsymmetricEncrypt and Sign (EH_RAW) take


def check_size(data: bytes, command: str, way_round: str) -> None:
    """Refuse input the server would refuse, saying the limit and the way round it."""
    if len(data) > MAX_DATA_BYTES:
        raise click.UsageError(
            f"{command} takes at most {MAX_DATA_BYTES} bytes and this input has {len(data)}: {way_round}"
        )


# -- input and output ---------------------------------------------------------------------------------
def read_data(value: str, *, base64_literal: bool, base64_input: bool = False) -> bytes:
    """``-`` stdin, ``@path`` a file, else the literal value.

    Files and stdin are raw bytes unless ``base64_input``; for base64 arguments (``base64_literal``:
    ciphertexts, signatures) a file or stdin that is nothing but one base64 text (what ``encrypt`` and
    ``sign`` print by default) is decoded, so ``pyehsm encrypt ... | pyehsm decrypt -`` works.
    """
    if value == "-":
        data = sys.stdin.buffer.read()
    elif value.startswith("@"):
        try:
            data = Path(value[1:]).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    else:
        if base64_literal:
            return _unbase64(value.encode())
        return value.encode("utf-8")
    if base64_input:
        return _unbase64(data)
    if base64_literal:
        decoded = _maybe_base64(data)
        if decoded is not None:
            return decoded
    return data


_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


def _maybe_base64(data: bytes) -> bytes | None:
    """The decoded bytes when ``data`` is one base64 text (whitespace allowed), else None.

    Binary ciphertexts and signatures are random bytes: the chance that one of n bytes is all base64
    characters with a valid length is below 4**-n, so raw input is not mistaken for base64."""
    text = b"".join(data.split())
    if len(text) < 8 or len(text) % 4 or not _BASE64_TEXT.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _unbase64(data: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error:
        raise click.BadParameter("not valid base64") from None


def read_text(value: str) -> str:
    data = read_data(value, base64_literal=False)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter("secret values must be UTF-8 text") from None


def write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def emit_binary(conn: Connection, name: str, data: bytes, raw: bool, out: Path | None, **extra: Any) -> None:
    """One binary result: to a file, raw to stdout, as JSON, or as a base64 line."""
    if out is not None:
        write_bytes(out, data, private=name == "plaintext")
        if conn.output == "json":
            emit_json({**extra, name: None, "written_to": str(out), "bytes": len(data)})
        return
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if conn.output == "json":
        emit_json({**extra, name: b64(data)})
    else:
        click.echo(b64(data))


def iso(epoch_ms: int | str | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC (``2025-01-31T12:00:00.123Z``) for tables; "" when unset."""
    try:
        ms = int(epoch_ms or 0)
    except (TypeError, ValueError):
        return str(epoch_ms)
    if ms <= 0:
        return ""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def emit_fields(conn: Connection, fields: dict[str, Any]) -> None:
    if conn.output == "json":
        emit_json(fields)
        return
    width = max(len(k) for k in fields) if fields else 0
    for key, value in fields.items():
        click.echo(f"{key.ljust(width)}  {'' if value is None else value}")


def emit_done(conn: Connection, message: str, **fields: Any) -> None:
    if conn.output == "json":
        emit_json({"result": "ok", **fields})
    else:
        click.echo(message)


_raw_option = click.option("--raw", is_flag=True, help="Write the raw bytes to stdout instead of base64.")
_out_option = click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the raw bytes to this file."
)
_aad_option = click.option("--aad", default=None, help="Additional authenticated data (text, - or @file).")
_b64_input_option = click.option(
    "--base64-input", is_flag=True, help="Files and stdin hold base64 text rather than raw bytes."
)
_USAGE_ALIASES = {
    "encrypt": "EH_KEYUSAGE_ENCRYPT_DECRYPT",
    "sign": "EH_KEYUSAGE_SIGN_VERIFY",
    **{name: name for name in USAGE_NAMES},
}


def _aad(value: str | None) -> bytes | None:
    return read_data(value, base64_literal=False) if value is not None else None


# -- apps ---------------------------------------------------------------------------------------------
@click.group("app")
def app_group() -> None:
    """Apps (tenants): enroll a new app on a server."""


@app_group.command("enroll")
@click.option(
    "--admin-token", envvar="PYEHSM_ADMIN_TOKEN", default=None, help="For servers with --enroll-policy token."
)
@click.option("--save", is_flag=True, help="Store the new credentials (and url) as --profile in the credentials file.")
@with_connection(need_credentials=False)
def app_enroll(conn: Connection, admin_token: str | None, save: bool) -> None:
    """Enroll a new app (Enroll) and print its appid and apikey."""
    ctx = click.get_current_context()
    profile = ctx.params.get("profile") or DEFAULT_PROFILE
    with make_client(
        Client.enroll, conn.url, admin_token=admin_token, timeout=conn.timeout, verify=conn.verify
    ) as client:
        appid, apikey = client.appid, client.apikey
    if save:
        path = ctx.params.get("credentials_file") or default_credentials_path()
        values = {"url": conn.url, "appid": appid, "apikey": apikey}
        if isinstance(conn.verify, str):
            values["ca_bundle"] = str(Path(conn.verify).resolve())
        write_profile(path, profile, values)
        click.echo(f"saved profile {profile!r} in {path}", err=True)
    emit_fields(conn, {"appid": appid, "apikey": apikey})


@click.command("get-version")
@with_connection(need_credentials=False)
def get_version(conn: Connection) -> None:
    """The server's version and build id (GetVersion)."""
    with conn.client() as client:
        info = client.get_version()
    emit_fields(conn, {"version": info.version, "git_sha": info.git_sha})


# -- keys ---------------------------------------------------------------------------------------------
@click.group("key")
def key_group() -> None:
    """Customer master keys: create, list, enable, disable, delete, public key, import."""


@key_group.command("create")
@click.argument("keyspec", type=click.Choice(KEYSPEC_NAMES), metavar="KEYSPEC")
@click.option("--origin", type=click.Choice(ORIGIN_NAMES), default="EH_INTERNAL_KEY", show_default=True)
@click.option(
    "--usage",
    type=click.Choice(sorted(_USAGE_ALIASES)),
    default=None,
    help="encrypt or sign (default: the keyspec's natural usage).",
)
@with_connection()
def key_create(conn: Connection, keyspec: str, origin: str, usage: str | None) -> None:
    """Create a key (CreateKey) and print its keyid."""
    with conn.client() as client:
        keyid = client.create_key(keyspec, origin, _USAGE_ALIASES[usage] if usage else None)
    if conn.output == "json":
        emit_json({"keyid": keyid})
    else:
        click.echo(keyid)


@key_group.command("list")
@with_connection()
def key_list(conn: Connection) -> None:
    """List this app's keys (ListKey)."""
    with conn.client() as client:
        keys = client.list_key()
    if conn.output == "json":
        emit_json([dict(k.raw) for k in keys])
        return
    rows = [
        (
            k.keyid,
            k.keyspec,
            k.state or ("Enabled" if k.enabled else "Disabled"),
            k.keyusage or "",
            iso(k.creation_date),
        )
        for k in keys
    ]
    emit_table(rows, ("keyid", "keyspec", "state", "usage", "created"))


def _key_state_command(name: str, verb: str, method: str, doc: str) -> click.Command:
    @click.argument("keyid")
    @with_connection()
    def command(conn: Connection, keyid: str) -> None:
        with conn.client() as client:
            getattr(client, method)(keyid)
        emit_done(conn, f"{verb} {keyid}", keyid=keyid)

    command.__doc__ = doc
    return click.command(name)(command)


key_group.add_command(_key_state_command("enable", "enabled", "enable_key", "Enable a key (EnableKey)."))
key_group.add_command(_key_state_command("disable", "disabled", "disable_key", "Disable a key (DisableKey)."))


@key_group.command("delete")
@click.argument("keyid", required=False)
@click.option("--all", "delete_all", is_flag=True, help="Delete every key of this app (DeleteAllKey).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@with_connection()
def key_delete(conn: Connection, keyid: str | None, delete_all: bool, yes: bool) -> None:
    """Delete a key (DeleteKey), or every key with --all. Asks first unless --yes."""
    if bool(keyid) == delete_all:
        raise click.UsageError("give either a KEYID or --all")
    if not yes:
        question = (
            "Delete EVERY key of this app? Data encrypted under them becomes unrecoverable"
            if delete_all
            else f"Delete key {keyid}? Data encrypted under it becomes unrecoverable"
        )
        click.confirm(question, abort=True, err=True)
    with conn.client() as client:
        if delete_all:
            client.delete_all_key()
        else:
            client.delete_key(str(keyid))
    emit_done(conn, "deleted all keys" if delete_all else f"deleted {keyid}", keyid=keyid)


@key_group.command("public-key")
@click.argument("keyid")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the PEM here.")
@with_connection()
def key_public_key(conn: Connection, keyid: str, out: Path | None) -> None:
    """Print the PEM public key of an asymmetric key (GetPublicKey)."""
    with conn.client() as client:
        pem = client.get_public_key(keyid)
    if out is not None:
        out.write_text(pem, encoding="ascii")
    elif conn.output == "json":
        emit_json({"keyid": keyid, "pubkey": pem})
    else:
        click.echo(pem.rstrip("\n"))


@key_group.command("import")
@click.argument("keyid")
@click.argument("material")
@click.option("--wrapping-keyspec", type=click.Choice(WRAPPING_KEYSPEC_NAMES), default="EH_RSA_3072", show_default=True)
@_b64_input_option
@with_connection()
def key_import(conn: Connection, keyid: str, material: str, wrapping_keyspec: str, base64_input: bool) -> None:
    """Import key material into an EH_EXTERNAL_KEY (GetParametersForImport + ImportKeyMaterial).

    MATERIAL is the plaintext key (- or @file; a literal is base64). It is wrapped here, on the client,
    under the server's one-time public key (RSA-OAEP-SHA256 or SM2) and never sent in the clear.
    """
    key = read_data(material, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        params = client.get_parameters_for_import(keyid, wrapping_keyspec)
        wrapped, padding = wrap_for_import(params.pubkey, key, wrapping_keyspec)
        client.import_key_material(keyid, wrapped, params.import_token, padding)
    emit_done(conn, f"imported key material into {keyid}", keyid=keyid)


def wrap_for_import(pubkey_pem: str, key: bytes, wrapping_keyspec: str = "EH_RSA_3072") -> tuple[bytes, str]:
    """Encrypt ``key`` under the import public key and name the padding_mode to send.

    RSA: OAEP (SHA-256, MGF1-SHA-256) when the material fits, else RSA-AES key wrap (an OAEP-wrapped
    ephemeral AES-256 key followed by AES-KWP of the material: EH_RSA_AES_KEY_WRAP). SM2: SM2 encryption.
    The PEM may be PKCS#1 (``BEGIN RSA PUBLIC KEY``, what GetParametersForImport sends for RSA, as Intel's
    server does) or SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``: RSA or SM2).
    """
    if wrapping_keyspec == "EH_SM2":  # decided by the keyspec: cryptography cannot load SM2 public keys
        from pyehsm.crypto.sm2 import SM2PublicKey

        return SM2PublicKey.from_pem(pubkey_pem.encode()).encrypt(key), "EH_RSA_PKCS1_OAEP"

    from cryptography.hazmat.primitives import hashes, keywrap, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public = serialization.load_pem_public_key(pubkey_pem.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        raise click.ClickException(f"the server's {wrapping_keyspec} import key is not an RSA key")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    if len(key) <= public.key_size // 8 - 66:
        return public.encrypt(key, oaep), "EH_RSA_PKCS1_OAEP"
    ephemeral = os.urandom(32)
    wrapped = public.encrypt(ephemeral, oaep) + keywrap.aes_key_wrap_with_padding(ephemeral, key)
    return wrapped, "EH_RSA_AES_KEY_WRAP"


# -- crypto -------------------------------------------------------------------------------------------
@click.command("encrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("plaintext")
@_aad_option
@_raw_option
@_out_option
@with_connection()
def encrypt(conn: Connection, keyid: str, plaintext: str, aad: str | None, raw: bool, out: Path | None) -> None:
    """Encrypt PLAINTEXT (text, - for stdin, @file; at most 6144 bytes) with a symmetric key (Encrypt).

    Larger data: `pyehsm encrypt-file` (envelope encryption, any size)."""
    data = read_data(plaintext, base64_literal=False)
    check_size(data, "encrypt", "use `pyehsm encrypt-file -k KEYID IN OUT` (envelope encryption, any size)")
    with conn.client() as client:
        ct = client.encrypt(keyid, data, _aad(aad))
    emit_binary(conn, "ciphertext", ct, raw, out, keyid=keyid)


@click.command("decrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("ciphertext")
@_aad_option
@_raw_option
@_out_option
@_b64_input_option
@with_connection()
def decrypt(
    conn: Connection, keyid: str, ciphertext: str, aad: str | None, raw: bool, out: Path | None, base64_input: bool
) -> None:
    """Decrypt CIPHERTEXT (base64, - for stdin, @file) made by encrypt (Decrypt)."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        pt = client.decrypt(keyid, data, _aad(aad))
    emit_binary(conn, "plaintext", pt, raw, out, keyid=keyid)


@click.command("asymmetric-encrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("plaintext")
@click.option("--padding", type=click.Choice(PADDING_NAMES), default=DEFAULT_ASYMMETRIC_PADDING, show_default=True)
@_raw_option
@_out_option
@with_connection()
def asymmetric_encrypt(conn: Connection, keyid: str, plaintext: str, padding: str, raw: bool, out: Path | None) -> None:
    """Encrypt PLAINTEXT with an RSA or SM2 key (AsymmetricEncrypt)."""
    data = read_data(plaintext, base64_literal=False)
    with conn.client() as client:
        ct = client.asymmetric_encrypt(keyid, data, padding)
    emit_binary(conn, "ciphertext", ct, raw, out, keyid=keyid)


@click.command("asymmetric-decrypt")
@click.option("--keyid", "-k", required=True)
@click.argument("ciphertext")
@click.option("--padding", type=click.Choice(PADDING_NAMES), default=DEFAULT_ASYMMETRIC_PADDING, show_default=True)
@_raw_option
@_out_option
@_b64_input_option
@with_connection()
def asymmetric_decrypt(
    conn: Connection, keyid: str, ciphertext: str, padding: str, raw: bool, out: Path | None, base64_input: bool
) -> None:
    """Decrypt CIPHERTEXT with an RSA or SM2 key (AsymmetricDecrypt)."""
    data = read_data(ciphertext, base64_literal=True, base64_input=base64_input)
    with conn.client() as client:
        pt = client.asymmetric_decrypt(keyid, data, padding)
    emit_binary(conn, "plaintext", pt, raw, out, keyid=keyid)


@click.command("generate-data-key")
@click.option("--keyid", "-k", required=True)
@click.option("--length", "keylen", type=click.IntRange(1, 1024), default=32, show_default=True, help="Bytes.")
@_aad_option
@click.option("--without-plaintext", is_flag=True, help="Only the encrypted data key.")
@click.option(
    "--plaintext-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Raw data key file (0600)."
)
@click.option(
    "--ciphertext-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Raw wrapped key file."
)
@with_connection()
def generate_data_key(
    conn: Connection,
    keyid: str,
    keylen: int,
    aad: str | None,
    without_plaintext: bool,
    plaintext_out: Path | None,
    ciphertext_out: Path | None,
) -> None:
    """A fresh data key for envelope encryption (GenerateDataKey[WithoutPlaintext])."""
    with conn.client() as client:
        if without_plaintext:
            plaintext, ciphertext = None, client.generate_data_key_without_plaintext(keyid, keylen, _aad(aad))
        else:
            plaintext, ciphertext = client.generate_data_key(keyid, keylen, _aad(aad))
    fields: dict[str, Any] = {"keyid": keyid}
    if plaintext is not None:
        if plaintext_out is not None:
            write_bytes(plaintext_out, plaintext, private=True)
        else:
            fields["plaintext"] = b64(plaintext)
    if ciphertext_out is not None:
        write_bytes(ciphertext_out, ciphertext)
    else:
        fields["ciphertext"] = b64(ciphertext)
    emit_fields(conn, fields)


# -- secrets ------------------------------------------------------------------------------------------
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
@_out_option
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


# -- documentation ------------------------------------------------------------------------------------
@click.command("openapi")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Default: stdout.")
def openapi(out: Path | None) -> None:
    """Print (or write) the OpenAPI 3.1 document of this build (docs/openapi.json)."""
    from pyehsm.protocols.ehsm.openapi import render_openapi, write_openapi
    from pyehsm.protocols.ehsm.table import ACTIONS

    if out is not None:
        write_openapi(ACTIONS, out)
    else:
        click.echo(render_openapi(ACTIONS), nl=False)


COMMANDS: list[click.Command] = [
    app_group,
    get_version,
    key_group,
    encrypt,
    decrypt,
    asymmetric_encrypt,
    asymmetric_decrypt,
    generate_data_key,
    secret_group,
    openapi,
]
