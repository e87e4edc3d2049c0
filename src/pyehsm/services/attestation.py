"""Remote attestation (docs/protocol.md section 6, docs/attestation.md): GenerateQuote, VerifyQuote, quote policies.

- VerifyQuote runs :func:`pyehsm.attest.verify.verify_quote` at the service clock's time
  (``clock.now_ms() // 1000``) with collateral from the configured sources (offline bundle first, then a
  PCCS; nothing else, no network unless a PCCS is configured), the configured TCB status policy and only
  the simulated roots the operator named; then it applies the app's quote policy, when one is named.
- GenerateQuote asks the quote provider chosen at start (configfs-tsm, Gramine, or the simulated provider
  on explicit request only). The challenge is bound as report_data = SHA-512(challenge).
- Quote policies are stored per appid: another app's policy answers exactly like an unknown one.

The service is built from the server's options by services/attestation_setup.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pyehsm.attest.providers import (
    QuoteGenerationError,
    QuoteProvider,
    report_data_for_challenge,
)
from pyehsm.attest.quote import ParsedQuote
from pyehsm.attest.release_policy import ALLOWED_TCB_STATUSES
from pyehsm.attest.verify import (
    CollateralProvider,
    TcbPolicy,
    Verdict,
    match_policy,
    verify_quote,
)
from pyehsm.clock import Clock
from pyehsm.errors import (
    InternalFailure,
    MalformedParameter,
    MissingParameter,
    QuotePolicyMixesTees,
    QuotePolicyNotFound,
    QuoteProviderMissing,
)
from pyehsm.store.base import Store
from pyehsm.store.records import QuotePolicyRecord

log = logging.getLogger("pyehsm.attestation")

MAX_REASON_CHARS: Final = 500

_SGX_HEX: Final = re.compile(r"[0-9a-f]{64}")
_TDX_HEX: Final = re.compile(r"[0-9a-f]{96}")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Rtmrs = tuple[str | None, str | None, str | None, str | None]
_RELEASE_TCB: Final = TcbPolicy(ALLOWED_TCB_STATUSES)


@dataclass(frozen=True, slots=True)
class GeneratedQuote:
    quote: bytes
    provider: str
    simulated: bool


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """A VerifyQuote outcome: ``valid`` needs both a good verdict and, when a policy was named, a match."""

    valid: bool
    reason: str  # "" when valid
    verdict: Verdict
    quote: ParsedQuote
    policy: QuotePolicyRecord | None


# --- the service --------------------------------------------------------------------------------


class AttestationService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        collateral: CollateralProvider,
        tcb_policy: TcbPolicy,
        *,
        trusted_simulation_roots: Sequence[bytes] = (),
        quote_provider: QuoteProvider | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._collateral = collateral
        self._tcb_policy = tcb_policy
        self._trusted_roots = tuple(trusted_simulation_roots)
        self._provider = quote_provider

    def __repr__(self) -> str:
        provider = self._provider.name if self._provider is not None else "none"
        return f"<AttestationService provider={provider} trusted_simulation_roots={len(self._trusted_roots)}>"

    @property
    def quote_provider(self) -> QuoteProvider | None:
        return self._provider

    async def aclose(self) -> None:
        """Release the collateral sources' network client, if any."""
        close = getattr(self._collateral, "aclose", None)
        if close is not None:
            await close()

    # -- GenerateQuote ----------------------------------------------------------------------------
    async def generate_quote(self, challenge: bytes) -> GeneratedQuote:
        """A quote whose report_data is SHA-512(challenge), from the configured provider."""
        provider = self._provider
        if provider is None:
            raise QuoteProviderMissing
        report_data = report_data_for_challenge(challenge)
        try:
            quote = await asyncio.to_thread(provider.generate, report_data)
        except QuoteGenerationError as exc:
            log.error("GenerateQuote: the %s quote provider failed: %s", provider.name, exc)
            raise InternalFailure from None
        return GeneratedQuote(quote=quote, provider=provider.name, simulated=provider.simulated)

    # -- VerifyQuote ------------------------------------------------------------------------------
    async def verify_quote(self, appid: str, quote: bytes, policy_id: str | None) -> QuoteCheck:
        """Verify ``quote`` now (by the service clock) and against the app's policy ``policy_id``, if given.

        A quote that is not a DCAP quote at all is a MalformedParameter error (Intel's SDK expects an error for one); a
        well-formed quote that fails any check gives ``valid=False`` with the reason.
        """
        policy = await self.get_policy(appid, policy_id) if policy_id is not None else None
        now_secs = self._clock.now_ms() // 1000
        verdict = await verify_quote(quote, self._collateral, now_secs, self._tcb_policy, self._trusted_roots)
        parsed = verdict.quote
        if parsed is None:
            detail = verdict.reason.removeprefix("malformed quote: ")
            raise MalformedParameter("quote", _short(detail))
        valid, reason = verdict.ok, verdict.reason
        if valid and policy is not None and not _matches(parsed, policy):
            valid, reason = False, f"the quote's measurements do not match quote policy {policy.policy_id}"
        return QuoteCheck(valid=valid, reason=_short(reason), verdict=verdict, quote=parsed, policy=policy)

    async def verify_for_release(self, quote: bytes) -> Verdict:
        """VerifyQuote's verification (same collateral sources and trusted roots) for the key-release gate
        (services/release_gate.py): every TCB status a release policy may allow verifies here, and the
        policy of the key or secret decides which it accepts."""
        return await verify_quote(
            quote, self._collateral, self._clock.now_ms() // 1000, _RELEASE_TCB, self._trusted_roots
        )

    # -- quote policies ---------------------------------------------------------------------------
    async def upload_policy(
        self,
        appid: str,
        *,
        mr_enclave: str | None = None,
        mr_signer: str | None = None,
        mr_td: str | None = None,
        rtmrs: Rtmrs = (None, None, None, None),
    ) -> QuotePolicyRecord:
        """Store a new SGX policy (mr_enclave + mr_signer) or TDX policy (mr_td, optional rtmr0..3)."""
        enclave, signer, td = _lower(mr_enclave), _lower(mr_signer), _lower(mr_td)
        rtmr_values: Rtmrs = (_lower(rtmrs[0]), _lower(rtmrs[1]), _lower(rtmrs[2]), _lower(rtmrs[3]))
        tdx = td is not None or any(v is not None for v in rtmr_values)
        if tdx:
            if enclave is not None or signer is not None:
                raise QuotePolicyMixesTees
            if td is None:
                raise MissingParameter("mr_td")
            _check_hex("mr_td", td, _TDX_HEX)
            for index, value in enumerate(rtmr_values):
                if value is not None:
                    _check_hex(f"rtmr{index}", value, _TDX_HEX)
        else:
            for name, value in (("mr_enclave", enclave), ("mr_signer", signer)):
                if value is None:
                    raise MissingParameter(name)
                _check_hex(name, value, _SGX_HEX)
        record = QuotePolicyRecord(
            appid=appid,
            policy_id=str(uuid.uuid4()),
            mr_enclave=enclave,
            mr_signer=signer,
            mr_td=td,
            rtmrs=rtmr_values,
            created_ms=self._clock.now_ms(),
        )
        await self._store.insert_quote_policy(record)
        return record

    async def get_policy(self, appid: str, policy_id: str) -> QuotePolicyRecord:
        """The app's policy; QuotePolicyNotFound for a malformed, unknown or foreign id alike."""
        if not _UUID.fullmatch(policy_id):
            raise QuotePolicyNotFound(policy_id)
        record = await self._store.get_quote_policy(appid, policy_id)
        if record is None:
            raise QuotePolicyNotFound(policy_id)
        return record


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _check_hex(name: str, value: str, pattern: re.Pattern[str]) -> None:
    if not pattern.fullmatch(value):
        raise MalformedParameter(name)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _matches(parsed: ParsedQuote, policy: QuotePolicyRecord) -> bool:
    rtmrs = {index: value for index, value in enumerate(policy.rtmrs) if value is not None}
    return match_policy(parsed, policy.mr_enclave, policy.mr_signer, policy.mr_td, rtmrs)
