"""Verify DCAP quotes with dcap-qvl, collateral from an offline bundle or a PCCS, and a TCB status policy.

``verify_quote`` never raises for a bad quote or bad collateral: it returns a :class:`Verdict` with
``ok=False`` and a human-readable ``reason``. The verification time is always passed in (``now_secs``):
collateral (CRLs, TCB info, QE identity) expires, so "valid" only means "valid at that time".

Simulated quotes (see ``simulation.py``) are accepted only when their root certificate is one of
``trusted_simulation_roots``; they never reach dcap-qvl, which only trusts Intel's root.

The collateral providers are defined in ``collateral.py`` (offline) and ``pccs.py`` (network) and
re-exported here, so callers import the whole verification API from this module.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.chain import certificate_der, embedded_chain, is_canonical, is_intel_root
from pyehsm.attest.collateral import (
    Collateral,
    CollateralProvider,
    CollateralUnavailable,
    FixedCollateralProvider,
    OfflineBundleProvider,
    PlatformIds,
    collateral_expiry,
    load_collateral,
    platform_ids,
)
from pyehsm.attest.pccs import CollateralCache, PccsProvider
from pyehsm.attest.quote import ParsedQuote, QuoteFormatError, parse_quote
from pyehsm.attest.simulation import SIMULATED_TCB_STATUS, SimulatedQuoteError, check_simulated_quote

__all__ = [
    "ACCEPTABLE_TCB_STATUSES",
    "Collateral",
    "CollateralCache",
    "CollateralProvider",
    "CollateralUnavailable",
    "FixedCollateralProvider",
    "OfflineBundleProvider",
    "PccsProvider",
    "PlatformIds",
    "TcbPolicy",
    "Verdict",
    "collateral_expiry",
    "load_collateral",
    "match_policy",
    "platform_ids",
    "verify_quote",
]

TCB_UP_TO_DATE: Final = "UpToDate"
ACCEPTABLE_TCB_STATUSES: Final = frozenset(
    {TCB_UP_TO_DATE, "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True, slots=True)
class TcbPolicy:
    """Which TCB statuses verify. Default: only "UpToDate". OutOfDate/Revoked are never acceptable."""

    accepted_statuses: frozenset[str] = frozenset({TCB_UP_TO_DATE})

    def __post_init__(self) -> None:
        unknown = set(self.accepted_statuses) - ACCEPTABLE_TCB_STATUSES
        if unknown:
            raise ValueError(
                f"TCB statuses {sorted(unknown)} cannot be accepted (allowed: {sorted(ACCEPTABLE_TCB_STATUSES)})"
            )

    def accepts(self, status: str) -> bool:
        return status in self.accepted_statuses


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    tcb_status: str  # dcap-qvl's status, "Simulated", or "" when verification did not get that far
    advisory_ids: tuple[str, ...]
    reason: str  # empty when ok
    quote: ParsedQuote | None  # None when the quote could not be parsed
    simulated: bool


# --- verification -------------------------------------------------------------------------------


def _reject(reason: str, parsed: ParsedQuote | None = None, *, simulated: bool = False) -> Verdict:
    return Verdict(ok=False, tcb_status="", advisory_ids=(), reason=reason, quote=parsed, simulated=simulated)


def _encoding_problem(quote: bytes, parsed: ParsedQuote, chain: list[x509.Certificate] | None) -> str:
    """Why a quote is not in the exact form pyehsm accepts (on top of dcap-qvl's checks), or ""."""
    if quote[parsed.quote_size :].strip(b"\x00"):
        return "quote has non-zero bytes after its signature data"
    if chain is None:
        # no embedded PEM chain (other certification data types): dcap-qvl decides
        return "the quote's certificate chain cannot be parsed" if parsed.pck_chain_pem is not None else ""
    if not is_canonical(parsed, chain):
        return "the quote's certificate chain is not canonically encoded"
    if not is_intel_root(chain[-1]):
        return "the quote's certificate chain ends neither at the Intel SGX Root CA nor at a trusted simulation root"
    return ""


def _dcap_reason(exc: BaseException) -> str:
    """dcap-qvl's error text on one line, e.g. "CrlExpired { ... }" or "ISV enclave report signature is invalid"."""
    text = str(exc).removeprefix("Verification failed: ").strip()
    head, _, causes = text.partition("\n\nCaused by:")
    cause_lines = [re.sub(r"^\d+: ", "", line.strip()) for line in causes.splitlines() if line.strip()]
    head = " ".join(head.split()) or type(exc).__name__
    return f"{head} (caused by: {'; '.join(cause_lines)})" if cause_lines else head


async def verify_quote(
    quote: bytes,
    provider: CollateralProvider,
    now_secs: int,
    tcb_policy: TcbPolicy,
    trusted_simulation_roots: Sequence[bytes] = (),
) -> Verdict:
    """Verify a DCAP quote at ``now_secs``. ``trusted_simulation_roots`` are PEM or DER certificates.

    A simulated quote whose root is trusted verifies with ``tcb_status="Simulated"``, ``simulated=True``
    (the TCB policy does not apply: there is no TCB). Every other quote goes to dcap-qvl with the
    collateral from ``provider``, after pyehsm's own encoding checks (zero padding only, canonical PEM
    chain, exact Intel root certificate).

    Raises only for programming or configuration errors (e.g. an unparsable trusted root).
    """
    trusted = {certificate_der(root) for root in trusted_simulation_roots}
    try:
        parsed = parse_quote(quote)
    except QuoteFormatError as exc:
        return _reject(f"malformed quote: {exc}")

    chain = embedded_chain(parsed)
    if chain is not None and chain[-1].public_bytes(serialization.Encoding.DER) in trusted:
        try:
            check_simulated_quote(quote, parsed, now_secs)
        except SimulatedQuoteError as exc:
            return _reject(f"simulated quote: {exc}", parsed, simulated=True)
        return Verdict(
            ok=True, tcb_status=SIMULATED_TCB_STATUS, advisory_ids=(), reason="", quote=parsed, simulated=True
        )
    problem = _encoding_problem(quote, parsed, chain)
    if problem:
        return _reject(problem, parsed)

    try:
        collateral = await provider.get_collateral(quote, parsed, now_secs=now_secs)
    except CollateralUnavailable as exc:
        return _reject(str(exc), parsed)
    try:
        report = dcap_qvl.verify(quote, collateral, now_secs)
        status = str(report.status)
        advisories = tuple(str(a) for a in report.advisory_ids)
    except Exception as exc:  # dcap-qvl raises ValueError; any failure inside it means "not verified"
        return _reject(_dcap_reason(exc), parsed)
    if not tcb_policy.accepts(status):
        return Verdict(
            ok=False,
            tcb_status=status,
            advisory_ids=advisories,
            reason=f"TCB status {status} not accepted by policy",
            quote=parsed,
            simulated=False,
        )
    return Verdict(ok=True, tcb_status=status, advisory_ids=advisories, reason="", quote=parsed, simulated=False)


# --- policy matching ----------------------------------------------------------------------------


def _hex_equal(expected: str, actual: str | None, size: int) -> bool:
    """Constant-time, case-insensitive comparison of a policy value with a quote field of ``size`` bytes."""
    if actual is None or len(expected) != 2 * size or not _HEX_RE.fullmatch(expected):
        return False
    return hmac.compare_digest(expected.lower().encode("ascii"), actual.lower().encode("ascii"))


def match_policy(
    parsed: ParsedQuote,
    mr_enclave: str | None,
    mr_signer: str | None,
    mr_td: str | None = None,
    rtmrs: Mapping[int, str] | None = None,
) -> bool:
    """Whether a (verified) quote's measurements equal a policy's; values are hex, any case.

    SGX quotes match on the given mr_enclave / mr_signer (at least one). TDX quotes match on mr_td (required)
    and every given RTMR (index 0..3). A value for the other TEE type in the policy means no match, so a
    TDX quote never matches an SGX policy and vice versa.
    """
    rtmr_values = dict(rtmrs or {})
    checks: list[tuple[str, str | None, int]] = []
    if parsed.tee == "SGX":
        if mr_td is not None or rtmr_values:
            return False
        for expected, actual in ((mr_enclave, parsed.mr_enclave), (mr_signer, parsed.mr_signer)):
            if expected is not None:
                checks.append((expected, actual, 32))
    else:
        if mr_enclave is not None or mr_signer is not None or mr_td is None:
            return False
        quote_rtmrs = parsed.rtmrs
        if quote_rtmrs is None or any(index not in range(4) for index in rtmr_values):
            return False
        checks.append((mr_td, parsed.mr_td, 48))
        checks += [(value, quote_rtmrs[index], 48) for index, value in sorted(rtmr_values.items())]
    if not checks:
        return False
    matched = True
    for expected, actual, size in checks:
        matched &= _hex_equal(expected, actual, size)
    return matched
