"""`pyehsm attest verify`: verify a DCAP quote on this machine (no server) and print the verdict and claims.

The checks are VerifyQuote's (pyehsm.attest.verify): full chain to the Intel SGX Root CA, CRLs, TCB info,
QE identity and signatures with dcap-qvl, at a given time, against a TCB status policy and optionally a
quote policy. Exit status: 0 valid, 1 not valid, 2 usage error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from pyehsm.config import TCB_ALLOW_CHOICES

if TYPE_CHECKING:
    from pyehsm.attest.quote import ParsedQuote
    from pyehsm.attest.verify import CollateralProvider, Verdict

MAX_QUOTE_FILE_BYTES: Final = 2 << 20
_QUOTE_VERSIONS: Final = (b"\x03\x00", b"\x04\x00")
_CLAIMS_SKIPPED: Final = frozenset({"signed_data", "signature", "quote_size"})


def read_quote_file(path: Path) -> bytes:
    """The quote in ``path``: raw bytes, or base64 text (as GenerateQuote returns it) when the raw bytes
    do not start like a version 3/4 quote."""
    if path.stat().st_size > MAX_QUOTE_FILE_BYTES:
        raise click.BadParameter(f"more than {MAX_QUOTE_FILE_BYTES} bytes", param_hint="QUOTE_FILE")
    data = path.read_bytes()
    if data[:2] in _QUOTE_VERSIONS:
        return data
    try:
        decoded = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if decoded[:2] in _QUOTE_VERSIONS else data


def _hex_option(size: int) -> Any:
    def check(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(f"[0-9a-fA-F]{{{2 * size}}}", value):
            raise click.BadParameter(f"expected {2 * size} hex digits", param=param)
        return value.lower() if value is not None else None

    return check


def _rtmr_option(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    rtmrs: dict[int, str] = {}
    for item in values:
        index, _, value = item.partition("=")
        if index not in ("0", "1", "2", "3") or not re.fullmatch("[0-9a-fA-F]{96}", value):
            raise click.BadParameter(f"{item!r}: expected N=HEX with N 0..3 and 96 hex digits", param=param)
        rtmrs[int(index)] = value.lower()
    return rtmrs


class _NoCollateral:
    async def get_collateral(self, quote: bytes, parsed: ParsedQuote, *, now_secs: int | None = None) -> Any:
        from pyehsm.attest.verify import CollateralUnavailable

        raise CollateralUnavailable("no collateral given: use --collateral FILE or --collateral-dir DIR")


def _provider(collateral: Path | None, collateral_dir: Path | None) -> CollateralProvider:
    from pyehsm.attest.verify import FixedCollateralProvider, OfflineBundleProvider

    if collateral is not None:
        return FixedCollateralProvider(collateral.read_bytes())
    if collateral_dir is not None:
        return OfflineBundleProvider(collateral_dir)
    return _NoCollateral()


def claims(parsed: ParsedQuote) -> dict[str, Any]:
    """What the quote states (measurements, SVNs, report data), in the quote's field order."""
    return {
        f.name: getattr(parsed, f.name)
        for f in dataclasses.fields(parsed)
        if f.name not in _CLAIMS_SKIPPED and getattr(parsed, f.name) is not None
    }


def _utc(secs: int) -> str:
    return dt.datetime.fromtimestamp(secs, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _report(verdict: Verdict, valid: bool, reason: str, at: int, policy_matched: bool | None) -> dict[str, Any]:
    return {
        "valid": valid,
        "reason": reason,
        "tcb_status": verdict.tcb_status,
        "advisory_ids": list(verdict.advisory_ids),
        "simulated": verdict.simulated,
        "verified_at": at,
        "policy_matched": policy_matched,
        "claims": claims(verdict.quote) if verdict.quote is not None else {},
    }


def _print_text(report: dict[str, Any]) -> None:
    click.echo(f"verdict: {'VALID' if report['valid'] else 'INVALID'}")
    if report["reason"]:
        click.echo(f"reason: {report['reason']}")
    click.echo(f"verified at: {report['verified_at']} ({_utc(report['verified_at'])})")
    click.echo(f"tcb status: {report['tcb_status'] or '-'}")
    click.echo(f"advisory ids: {', '.join(report['advisory_ids']) or '-'}")
    if report["simulated"]:
        click.echo("simulated: yes (signed by a trusted simulation root, not by a TEE)")
    if report["policy_matched"] is not None:
        click.echo(f"policy: {'matched' if report['policy_matched'] else 'NOT matched'}")
    if report["claims"]:
        click.echo("claims:")
        for name, value in report["claims"].items():
            click.echo(f"  {name}: {value}")


@click.group()
def attest() -> None:
    """Remote attestation tools for Intel DCAP quotes (SGX v3, TDX v4)."""


@attest.command("verify")
@click.argument("quote_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--collateral",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Collateral for this quote: QuoteCollateralV3 JSON (PCK CRL, root CA CRL, TCB info, QE identity).",
)
@click.option(
    "--collateral-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An offline bundle: <fmspc>.json or <sgx|tdx>-<fmspc>.json files (ignored with --collateral).",
)
@click.option(
    "--at",
    type=click.IntRange(min=0),
    default=None,
    help="Verification time in Unix seconds (default: now). Collateral expires, so a quote is valid at a time.",
)
@click.option("--policy-mr-enclave", callback=_hex_option(32), help="SGX: required MRENCLAVE (64 hex digits).")
@click.option("--policy-mr-signer", callback=_hex_option(32), help="SGX: required MRSIGNER (64 hex digits).")
@click.option("--policy-mr-td", callback=_hex_option(48), help="TDX: required MRTD (96 hex digits).")
@click.option(
    "--policy-rtmr", multiple=True, callback=_rtmr_option, help="TDX: required RTMR as N=HEX (N 0..3; repeatable)."
)
@click.option(
    "--allow-status",
    type=click.Choice(TCB_ALLOW_CHOICES),
    multiple=True,
    help="Also accept this TCB status (repeatable; UpToDate is always accepted).",
)
@click.option(
    "--trust-simulated-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Accept simulated quotes chaining to this root certificate (pyehsm's simulated provider).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict and claims as JSON.")
def verify(
    quote_file: Path,
    collateral: Path | None,
    collateral_dir: Path | None,
    at: int | None,
    policy_mr_enclave: str | None,
    policy_mr_signer: str | None,
    policy_mr_td: str | None,
    policy_rtmr: dict[int, str],
    allow_status: tuple[str, ...],
    trust_simulated_root: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Verify the DCAP quote in QUOTE_FILE (raw bytes or base64) and print the verdict and its claims."""
    from pyehsm.attest.verify import TcbPolicy, match_policy, verify_quote
    from pyehsm.errors import StartupError
    from pyehsm.services.attestation_setup import read_trusted_root

    quote = read_quote_file(quote_file)
    now = int(time.time()) if at is None else at
    try:
        roots = [read_trusted_root(path) for path in trust_simulated_root]
    except StartupError as exc:  # unreadable, not a certificate, or Intel's root
        raise click.BadParameter(str(exc), param_hint="--trust-simulated-root") from None
    provider = _provider(collateral, collateral_dir)
    tcb_policy = TcbPolicy(frozenset({"UpToDate", *allow_status}))
    verdict = asyncio.run(verify_quote(quote, provider, now, tcb_policy, roots))
    valid, reason = verdict.ok, verdict.reason
    policy_given = any(v is not None for v in (policy_mr_enclave, policy_mr_signer, policy_mr_td)) or policy_rtmr
    matched: bool | None = None
    if policy_given and verdict.quote is not None:
        matched = match_policy(verdict.quote, policy_mr_enclave, policy_mr_signer, policy_mr_td, policy_rtmr)
        if valid and not matched:
            valid, reason = False, "the quote's measurements do not match the policy"
    report = _report(verdict, valid, reason, now, matched)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_text(report)
    sys.exit(0 if valid else 1)


COMMANDS = [attest]
