"""Reaching the server from the client commands: the credentials file and its profiles, the connection
options every client command takes (``with_connection``), and the error handling around SDK calls.

Credentials: --appid/--apikey, else PYEHSM_APPID/PYEHSM_APIKEY, else the profile (--profile, default
"default") in ~/.config/pyehsm/credentials (an INI file that must not be readable by other users).
Server: --url, else PYEHSM_URL, else the profile's url, else http://127.0.0.1:9000/ehsm.

Exit codes: 0 success, 1 the server refused or could not be reached (message on stderr), 2 usage.
Under ``-o json`` errors are one JSON object ``{"error": {"message", ...}}`` on stderr.
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import ssl
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from pyehsm.client import Client, EhsmApiError, EhsmConnectionError

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
