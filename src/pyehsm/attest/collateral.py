"""Collateral for DCAP quote verification: what it is, where it comes from, when it expires.

Collateral (PCK CRL, root CA CRL, TCB info, QE identity, their issuer chains and signatures) is a
``dcap_qvl.QuoteCollateralV3``; its JSON form is ``QuoteCollateralV3.to_json`` / ``from_json``. A provider
looks it up by the quote's FMSPC, read from the PCK certificate in the quote. The PCCS provider lives in
``pccs.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Final, NamedTuple, Protocol

import dcap_qvl
from cryptography import x509

from pyehsm.attest.chain import ChainError, check_signatures, embedded_chain, is_intel_root
from pyehsm.attest.quote import ParsedQuote

_FMSPC_RE: Final = re.compile(r"[0-9a-f]{12}")


class CollateralUnavailable(Exception):
    """No usable collateral for a quote (unknown FMSPC, PCCS error, malformed collateral JSON)."""


class Collateral(Protocol):
    """What pyehsm reads from a ``dcap_qvl.QuoteCollateralV3`` (which ships no type information)."""

    @property
    def tcb_info(self) -> str: ...

    @property
    def qe_identity(self) -> str: ...

    @property
    def pck_crl(self) -> bytes: ...

    @property
    def root_ca_crl(self) -> bytes: ...

    def to_json(self) -> str: ...


class CollateralProvider(Protocol):
    async def get_collateral(self, quote: bytes, parsed: ParsedQuote, *, now_secs: int | None = None) -> Collateral:
        """Collateral for ``quote`` valid at ``now_secs`` if possible; raise CollateralUnavailable."""
        ...


class PlatformIds(NamedTuple):
    fmspc: str  # 12 lowercase hex digits
    ca: str  # "processor" or "platform": the PCK CA that issued the quote's PCK certificate


def load_collateral(text: str | bytes) -> Collateral:
    """A ``dcap_qvl.QuoteCollateralV3`` from its JSON form (``QuoteCollateralV3.from_json``)."""
    try:
        raw = text.decode() if isinstance(text, bytes) else text
        collateral: Collateral = dcap_qvl.QuoteCollateralV3.from_json(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise CollateralUnavailable(f"invalid collateral JSON: {exc}") from None
    return collateral


def _iso_secs(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise CollateralUnavailable(f"collateral {what} has no nextUpdate")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CollateralUnavailable(f"collateral {what} nextUpdate {value!r} is not a date") from None
    if moment.tzinfo is None:  # Intel writes UTC with a "Z"; never read a date as local time
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _crl_next_update(der: bytes, what: str) -> int | None:
    try:
        next_update = x509.load_der_x509_crl(der).next_update_utc
    except ValueError:
        raise CollateralUnavailable(f"collateral {what} is not a DER CRL") from None
    return None if next_update is None else int(next_update.timestamp())


def collateral_expiry(collateral: Collateral) -> int:
    """The earliest nextUpdate (Unix seconds) of the TCB info, QE identity and both CRLs."""
    try:
        tcb_next = json.loads(collateral.tcb_info).get("nextUpdate")
        qe_next = json.loads(collateral.qe_identity).get("nextUpdate")
    except (ValueError, AttributeError, RecursionError):
        raise CollateralUnavailable("collateral TCB info or QE identity is not a JSON object") from None
    times = [_iso_secs(tcb_next, "TCB info"), _iso_secs(qe_next, "QE identity")]
    for der, what in ((collateral.pck_crl, "PCK CRL"), (collateral.root_ca_crl, "root CA CRL")):
        next_update = _crl_next_update(der, what)
        if next_update is not None:
            times.append(next_update)
    return min(times)


def platform_ids(quote: bytes) -> PlatformIds:
    """FMSPC and PCK CA of a quote, read by dcap-qvl from the SGX extension (OID 1.2.840.113741.1.13.1.4)
    of the PCK certificate in the quote's certification data."""
    try:
        parsed = dcap_qvl.parse_quote(quote)
        fmspc = str(parsed.fmspc()).lower()
        ca = str(parsed.ca())
    except Exception as exc:  # dcap-qvl raises ValueError; any failure on untrusted bytes means "unavailable"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CollateralUnavailable(f"cannot read the FMSPC from the quote's PCK certificate: {detail}") from None
    if not _FMSPC_RE.fullmatch(fmspc) or ca not in ("processor", "platform"):
        raise CollateralUnavailable(f"unexpected FMSPC {fmspc!r} or PCK CA {ca!r}")
    return PlatformIds(fmspc, ca)


def require_intel_chain(parsed: ParsedQuote) -> None:
    """Refuse (before any network request) quotes whose embedded PCK chain is not signed up to Intel's root."""
    certs = embedded_chain(parsed)
    if certs is None or len(certs) < 2 or not is_intel_root(certs[-1]):
        raise CollateralUnavailable("the quote's PCK certificate chain does not end at the Intel SGX Root CA")
    try:
        check_signatures(certs)
    except ChainError as exc:
        raise CollateralUnavailable(f"the quote's PCK certificate chain is invalid: {exc}") from None


# --- offline providers ---------------------------------------------------------------------------


def _read_text_if_exists(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


class FixedCollateralProvider:
    """Always the given collateral JSON (a per-quote override)."""

    def __init__(self, collateral_json: str | bytes) -> None:
        self._json = collateral_json

    async def get_collateral(self, quote: bytes, parsed: ParsedQuote, *, now_secs: int | None = None) -> Collateral:
        return load_collateral(self._json)


class OfflineBundleProvider:
    """Collateral JSON files (``QuoteCollateralV3.to_json`` format) in a directory, keyed by FMSPC.

    The file for a quote is ``<tee>-<fmspc>.json`` (tee "sgx"/"tdx", for platforms with both) or else
    ``<fmspc>.json``, FMSPC as 12 lowercase hex digits. ``collateral_json`` overrides the lookup.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)

    async def get_collateral(
        self,
        quote: bytes,
        parsed: ParsedQuote,
        *,
        now_secs: int | None = None,
        collateral_json: str | bytes | None = None,
    ) -> Collateral:
        if collateral_json is not None:
            return load_collateral(collateral_json)
        fmspc = platform_ids(quote).fmspc
        for name in (f"{parsed.tee.lower()}-{fmspc}.json", f"{fmspc}.json"):
            text = await asyncio.to_thread(_read_text_if_exists, self._dir / name)
            if text is not None:
                return load_collateral(text)
        raise CollateralUnavailable(f"no collateral for FMSPC {fmspc} in the offline bundle")
