"""Server-side commands: serve, enroll, migrate."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from pyehsm.cli.audit import apply_audit_options, audit_serve_options
from pyehsm.config import (
    DEFAULT_KEY_CACHE_ENTRIES,
    DEFAULT_REPLAY_CAPACITY,
    QUOTE_PROVIDERS,
    TCB_ALLOW_CHOICES,
    Settings,
    parse_pool_depth,
)
from pyehsm.errors import StartupError
from pyehsm.logs import LOG_FORMATS, logging_config

F = TypeVar("F", bound=Callable[..., Any])
DATA_DIR_HELP = "Data directory (default $PYEHSM_DATA_DIR, else ./pyehsm-data)."


def data_dir_option(f: F) -> F:
    """``--data-dir``: the same option, help and default on every server-side command."""
    return click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)(f)


def output_option(f: F) -> F:
    """``--output/-o text|json`` for server-side commands (results and errors as JSON with json)."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: the result as a JSON object on stdout; an error as a JSON object on stderr.",
    )(f)


def json_output() -> bool:
    """Whether the running command was given ``--output json``."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.params.get("output") == "json"


def fail(exc: Exception) -> None:
    """Print a startup/usage problem and exit 1 (no traceback); a JSON object on stderr under -o json."""
    if json_output():
        click.echo(json.dumps({"error": {"message": str(exc), "type": type(exc).__name__}}), err=True)
    else:
        click.echo(f"pyehsm: {exc}", err=True)
    sys.exit(1)


def done(message: str, **fields: Any) -> None:
    """A server-side command's result: the message, or ``{"result": "ok", **fields}`` under -o json."""
    if json_output():
        click.echo(json.dumps({"result": "ok", **fields}, default=str))
    else:
        click.echo(message)


def base_settings(data_dir: Path | None, store: str | None, root_key: str | None) -> Settings:
    settings = Settings.from_env()
    changes: dict[str, object] = {}
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if store:
        changes["store"] = store
    if root_key:
        changes["root_key"] = root_key
    return replace(settings, **changes)  # type: ignore[arg-type]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@data_dir_option
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--store", default=None, help="Store URL (default: SQLite in the data dir). Env: PYEHSM_STORE.")
@click.option("--root-key", default=None, help="Root key provider: file:PATH (default file:<data-dir>/root.key).")
@click.option(
    "--enroll-policy",
    type=click.Choice(["open", "token", "closed"]),
    default=None,
    help="Who may Enroll (default: open on loopback, else closed). Token: PYEHSM_ADMIN_TOKEN.",
)
@click.option("--tls-cert", default="", help="PEM certificate for HTTPS.")
@click.option("--tls-key", default="", help="PEM private key for HTTPS.")
@click.option("--allow-plaintext", is_flag=True, help="Serve plain HTTP on a non-loopback address.")
@click.option("--audit-log", default="", help='Audit log target: "-" for stdout or a file path.')
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default=lambda: os.environ.get("PYEHSM_LOG_FORMAT", "text"),
    show_default="text",
    help="Server log lines as plain text or one JSON object per line (env PYEHSM_LOG_FORMAT).",
)
@click.option("--pool-depth", default="", help="Pre-generated key pairs per keyspec, e.g. EH_RSA_4096=8,EH_SM2=16.")
@click.option(
    "--rate-limit",
    type=float,
    default=None,
    help="Requests/second per app (token bucket per worker); 0 = off. Default: off on loopback, else 1000.",
)
@click.option(
    "--replay-capacity",
    type=int,
    default=None,
    help="SQLite mode: entries of the mapped replay table (16 bytes each); size it as peak signed "
    "requests/second x 1,715 (20 minutes at 70 % full), beyond which entries overflow to SQLite, slower "
    f"(default {DEFAULT_REPLAY_CAPACITY}; env PYEHSM_REPLAY_CAPACITY).",
)
@click.option(
    "--key-cache-entries",
    type=int,
    default=None,
    help="Keys each worker keeps parsed and their rows cached; bounds a worker's memory whatever the key "
    f"count (default {DEFAULT_KEY_CACHE_ENTRIES}; env PYEHSM_KEY_CACHE_ENTRIES).",
)
@click.option("--rate-limit-burst", type=int, default=0, help="Burst per app (default: twice the rate).")
@click.option("--metrics/--no-metrics", default=True, show_default=True, help="Serve Prometheus metrics at /metrics.")
@click.option(
    "--collateral-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="VerifyQuote: offline collateral bundle (QuoteCollateralV3 JSON files named <fmspc>.json "
    "or <sgx|tdx>-<fmspc>.json), tried first.",
)
@click.option(
    "--pccs-url",
    default=None,
    help="VerifyQuote: PCCS or Intel PCS base URL for collateral (cached in <data-dir>/pccs-cache). "
    "Without it the server never uses the network for attestation.",
)
@click.option(
    "--tcb-allow",
    type=click.Choice(TCB_ALLOW_CHOICES),
    multiple=True,
    help="VerifyQuote: also accept quotes with this TCB status (repeatable; UpToDate is always accepted).",
)
@click.option(
    "--quote-provider",
    type=click.Choice(QUOTE_PROVIDERS),
    default=None,
    help="GenerateQuote: auto (configfs-tsm or Gramine when present, default), configfs-tsm, gramine, none, "
    "or simulated (development only: quotes from no TEE, signing chain kept in the data dir).",
)
@click.option(
    "--trust-simulated-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="VerifyQuote: trust simulated quotes chaining to this root certificate (repeatable; e.g. "
    "<data-dir>/simulated-quote-root.pem). Never trusted otherwise.",
)
@click.option(
    "--max-header-size",
    type=click.IntRange(min=1024),
    default=16384,
    show_default=True,
    envvar="PYEHSM_MAX_HEADER_SIZE",
    help="Bytes a request's URL and header fields may take; more is answered 431 (a URL alone: code 400).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.01),
    default=5.0,
    show_default=True,
    envvar="PYEHSM_HEADER_TIMEOUT",
    help="Seconds a connection has to send a complete request head (from connect, or from a later "
    "request's first byte); then it is closed.",
)
@click.option(
    "--aws-region",
    default=None,
    help="The AWS KMS door's region, named in its key and alias ARNs (default us-east-1; env PYEHSM_AWS_REGION).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=0),
    default=0,
    envvar="PYEHSM_MAX_CONNECTIONS",
    help="Open connections per worker; more are answered 503 and closed. Default: 1000, or the file "
    "limit less 256 when that is lower.",
)
@audit_serve_options
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    workers: int,
    store: str | None,
    root_key: str | None,
    enroll_policy: str | None,
    tls_cert: str,
    tls_key: str,
    allow_plaintext: bool,
    audit_log: str,
    log_level: str,
    log_format: str,
    pool_depth: str,
    rate_limit: float | None,
    rate_limit_burst: int,
    replay_capacity: int | None,
    key_cache_entries: int | None,
    metrics: bool,
    collateral_dir: Path | None,
    pccs_url: str | None,
    tcb_allow: tuple[str, ...],
    quote_provider: str | None,
    trust_simulated_root: tuple[Path, ...],
    max_header_size: int,
    header_timeout: float,
    max_connections: int,
    aws_region: str | None,
) -> None:
    """Start the server (SQLite + a root key file in the data dir unless told otherwise)."""
    import uvicorn

    from pyehsm.crypto.backend import check_backend

    try:
        check_backend()  # before the key families load: a clear message for an old cryptography
    except StartupError as exc:
        fail(exc)
    from pyehsm.app import http_limits, prepare
    from pyehsm.http.limits import default_max_connections, raise_file_limit
    from pyehsm.http.protocol import uvicorn_options

    try:  # a malformed option value (e.g. --pool-depth) is a one-line message, not a traceback
        base = base_settings(data_dir, store, root_key)
        settings = replace(
            base,
            host=host,
            port=port,
            workers=workers,
            tls_cert=tls_cert,
            tls_key=tls_key,
            allow_plaintext=allow_plaintext,
            audit_log=audit_log,
            log_level=log_level,
            enroll_policy=enroll_policy or base.enroll_policy,
            pool_depth=parse_pool_depth(pool_depth) if pool_depth else base.pool_depth,
            rate_limit=rate_limit if rate_limit is not None else base.rate_limit,
            rate_limit_burst=rate_limit_burst or base.rate_limit_burst,
            replay_capacity=replay_capacity if replay_capacity is not None else base.replay_capacity,
            key_cache_entries=key_cache_entries if key_cache_entries is not None else base.key_cache_entries,
            metrics=metrics,
            collateral_dir=str(collateral_dir.resolve()) if collateral_dir is not None else base.collateral_dir,
            pccs_url=pccs_url or base.pccs_url,
            tcb_allow=tcb_allow or base.tcb_allow,
            quote_provider=quote_provider or base.quote_provider,
            trust_simulated_roots=tuple(str(p.resolve()) for p in trust_simulated_root) or base.trust_simulated_roots,
            aws_region=aws_region or base.aws_region,
        )
    except StartupError as exc:
        fail(exc)
    settings = apply_audit_options(settings)
    log_config = logging_config(log_level, log_format)
    logging.config.dictConfig(log_config)  # before prepare(): it may warn that it created a root key file
    try:
        settings.validate()
        asyncio.run(prepare(settings))
    except StartupError as exc:
        fail(exc)
    os.environ.update(settings.to_env())
    if workers > 1 and metrics:
        from pyehsm.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.data_dir / "metrics")
    file_limit = raise_file_limit()  # the workers inherit it
    limits = http_limits(
        max_header_size=max_header_size,
        header_timeout=header_timeout,
        max_connections=max_connections or default_max_connections(file_limit),
    )
    logging.getLogger("pyehsm").info(
        "File limit %d; per worker at most %d connections, request heads of %d bytes within %ss",
        file_limit,
        limits.max_connections,
        limits.max_header_size,
        limits.header_timeout,
    )
    logging.getLogger("pyehsm.server").info("starting the eHSM-KMS API at %s", ehsm_url(host, port, bool(tls_cert)))
    uvicorn.run(
        "pyehsm.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=log_config,
        access_log=False,
        ssl_certfile=tls_cert or None,
        ssl_keyfile=tls_key or None,
        loop="auto",
        **uvicorn_options(limits),  # pyehsm's HTTP protocol and its guards (pyehsm/http/protocol.py)
    )


def ehsm_url(host: str, port: int, tls: bool) -> str:
    """The URL clients use: scheme, host (bracketed when IPv6), port and the /ehsm path."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/ehsm"


@click.command()
@data_dir_option
@click.option("--store", default=None, help="Store URL (default: SQLite in the data dir). Env: PYEHSM_STORE.")
@click.option("--root-key", default=None, help="Root key provider (default file:<data-dir>/root.key).")
@output_option
def enroll(data_dir: Path | None, store: str | None, root_key: str | None, output: str) -> None:
    """Create an app offline (works with any enroll policy); prints appid and apikey."""
    from pyehsm.app import open_runtime

    settings = base_settings(data_dir, store, root_key)

    async def run() -> tuple[str, str]:
        runtime = await open_runtime(replace(settings, pool_depth={}))
        try:
            return await runtime.services.apps.enroll()
        finally:
            await runtime.close()

    try:
        appid, apikey = asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    done(f"appid: {appid}\napikey: {apikey}", appid=appid, apikey=apikey)


@click.command()
@data_dir_option
@click.option("--store", default=None, help="Store URL (default: SQLite in the data dir). Env: PYEHSM_STORE.")
@output_option
def migrate(data_dir: Path | None, store: str | None, output: str) -> None:
    """Apply pending schema migrations and exit."""
    from pyehsm.storage import open_store

    settings = base_settings(data_dir, store, None)

    async def run() -> None:
        s = open_store(settings)
        await s.open()
        await s.close()

    try:
        asyncio.run(run())
    except StartupError as exc:
        fail(exc)
    done("schema is up to date")


COMMANDS = [serve, enroll, migrate]
