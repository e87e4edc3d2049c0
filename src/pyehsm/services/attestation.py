"""Remote attestation (docs/protocol.md section 6, docs/attestation.md): GenerateQuote, VerifyQuote, quote policies.

- VerifyQuote runs :func:`pyehsm.attest.verify.verify_quote` at the service clock's time
  (``clock.now_ms() // 1000``) with collateral from the configured sources (offline bundle first, then a
  PCCS; nothing else, no network unless a PCCS is configured), the configured TCB status policy and only
  the simulated roots the operator named; then it applies the app's quote policy, when one is named.
- GenerateQuote asks the quote provider chosen at start (configfs-tsm, Gramine, or the simulated provider
  on explicit request only). The challenge is bound as report_data = SHA-512(challenge).
- Quote policies are stored per appid: another app's policy answers exactly like an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509

from pyehsm.attest.chain import certificate_der, is_intel_root
from pyehsm.attest.providers import (
    DEFAULT_CONFIGFS_TSM_ROOT,
    DEFAULT_GRAMINE_ROOT,
    ConfigfsTsmProvider,
    GramineProvider,
    QuoteGenerationError,
    QuoteProvider,
    QuoteProviderConfig,
    SimulatedSgxProvider,
    detect_provider,
    report_data_for_challenge,
)
from pyehsm.attest.quote import ParsedQuote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import (
    Collateral,
    CollateralProvider,
    CollateralUnavailable,
    OfflineBundleProvider,
    PccsProvider,
    TcbPolicy,
    Verdict,
    collateral_expiry,
    match_policy,
    verify_quote,
)
from pyehsm.clock import Clock
from pyehsm.config import Settings
from pyehsm.errors import (
    InternalFailure,
    MalformedParameter,
    MissingParameter,
    QuotePolicyMixesTees,
    QuotePolicyNotFound,
    QuoteProviderMissing,
    StartupError,
)
from pyehsm.store.base import Store
from pyehsm.store.records import QuotePolicyRecord

log = logging.getLogger("pyehsm.attestation")

NO_COLLATERAL_SOURCE: Final = (
    "no collateral for this quote: the server has no collateral source (start it with --collateral-dir or --pccs-url)"
)
MAX_REASON_CHARS: Final = 500
SIMULATION_NOT_BEFORE_SLACK_SECS: Final = 3600

_SGX_HEX: Final = re.compile(r"[0-9a-f]{64}")
_TDX_HEX: Final = re.compile(r"[0-9a-f]{96}")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Rtmrs = tuple[str | None, str | None, str | None, str | None]


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


# --- collateral ---------------------------------------------------------------------------------


def _expired(collateral: Collateral, now_secs: int) -> bool:
    try:
        return collateral_expiry(collateral) <= now_secs
    except CollateralUnavailable:
        return True


class CollateralSources:
    """The configured collateral sources, in order: the offline bundle, then the PCCS.

    The PCCS is asked when the bundle has nothing for the quote's platform, or only collateral that has
    expired at the verification time (if the PCCS then fails, the bundle's collateral is used and
    verification reports why it is stale). With no source at all every quote lacks collateral.
    """

    def __init__(self, offline: OfflineBundleProvider | None, pccs: PccsProvider | None) -> None:
        self._offline = offline
        self._pccs = pccs

    def __repr__(self) -> str:
        return f"<CollateralSources offline={self._offline is not None} pccs={self._pccs is not None}>"

    async def get_collateral(self, quote: bytes, parsed: ParsedQuote, *, now_secs: int | None = None) -> Collateral:
        stale: Collateral | None = None
        if self._offline is not None:
            try:
                collateral = await self._offline.get_collateral(quote, parsed, now_secs=now_secs)
            except CollateralUnavailable:
                if self._pccs is None:
                    raise
            else:
                if self._pccs is None or now_secs is None or not _expired(collateral, now_secs):
                    return collateral
                stale = collateral
        if self._pccs is None:
            raise CollateralUnavailable(NO_COLLATERAL_SOURCE)
        try:
            return await self._pccs.get_collateral(quote, parsed, now_secs=now_secs)
        except CollateralUnavailable:
            if stale is not None:
                return stale
            raise

    async def aclose(self) -> None:
        if self._pccs is not None:
            await self._pccs.aclose()


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


# --- construction from settings -----------------------------------------------------------------


def open_attestation(settings: Settings, store: Store, clock: Clock) -> AttestationService:
    """The attestation service as configured; StartupError for any configuration problem."""
    try:
        tcb_policy = TcbPolicy(frozenset({"UpToDate", *settings.tcb_allow}))
    except ValueError as exc:
        raise StartupError(f"--tcb-allow: {exc}") from None
    offline = None
    if settings.collateral_dir:
        if not Path(settings.collateral_dir).is_dir():
            raise StartupError(f"--collateral-dir {settings.collateral_dir}: not a directory")
        offline = OfflineBundleProvider(settings.collateral_dir)
    pccs = None
    if settings.pccs_url:
        try:
            pccs = PccsProvider(settings.pccs_url, settings.pccs_cache_dir, settings.pccs_cache_entries)
        except ValueError as exc:
            raise StartupError(f"--pccs-url: {exc}") from None
    sources = CollateralSources(offline, pccs)
    roots = [read_trusted_root(Path(path)) for path in settings.trust_simulated_roots]
    provider = open_quote_provider(settings, clock)
    log.info(
        "attestation: quote provider %s; collateral from %s; TCB statuses accepted: %s; %d trusted simulated root(s)",
        provider.name if provider is not None else "none",
        " then ".join(n for n, s in (("offline bundle", offline), ("PCCS", pccs)) if s is not None) or "nowhere",
        ", ".join(sorted(tcb_policy.accepted_statuses)),
        len(roots),
    )
    return AttestationService(
        store,
        clock,
        sources,
        tcb_policy,
        trusted_simulation_roots=roots,
        quote_provider=provider,
    )


def read_trusted_root(path: Path) -> bytes:
    """A simulated-quote root certificate to trust (PEM or DER); never Intel's root (DCAP verifies those)."""
    try:
        data = path.read_bytes()
        der = certificate_der(data)
    except OSError as exc:
        raise StartupError(f"--trust-simulated-root {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise StartupError(f"--trust-simulated-root {path}: not a PEM or DER certificate") from None
    if is_intel_root(x509.load_der_x509_certificate(der)):
        raise StartupError(
            f"--trust-simulated-root {path}: this is the Intel SGX Root CA; genuine quotes are verified with "
            "DCAP collateral, never trusted as simulated ones"
        )
    return der


def open_quote_provider(settings: Settings, clock: Clock) -> QuoteProvider | None:
    """The GenerateQuote provider named by ``settings.quote_provider``; "auto" never picks simulation."""
    choice = settings.quote_provider
    if choice == "none":
        return None
    if choice == "configfs-tsm":
        if not Path(DEFAULT_CONFIGFS_TSM_ROOT).is_dir():
            raise StartupError(f"--quote-provider configfs-tsm: {DEFAULT_CONFIGFS_TSM_ROOT} does not exist")
        return ConfigfsTsmProvider(DEFAULT_CONFIGFS_TSM_ROOT)
    if choice == "gramine":
        if not (Path(DEFAULT_GRAMINE_ROOT) / "quote").exists():
            raise StartupError(f"--quote-provider gramine: {DEFAULT_GRAMINE_ROOT}/quote does not exist")
        return GramineProvider(DEFAULT_GRAMINE_ROOT)
    if choice == "simulated":
        material = load_simulation_material(settings.simulation_material_path, clock)
        write_public_file(settings.simulation_root_path, material.root_certificate_pem())
        log.warning(
            "GenerateQuote uses the SIMULATED quote provider: its quotes come from no TEE and prove nothing "
            "about this machine. Use it for development and tests only. Its root certificate is %s; "
            "VerifyQuote trusts it only when given with --trust-simulated-root.",
            settings.simulation_root_path,
        )
        return SimulatedSgxProvider(material)
    return detect_provider(QuoteProviderConfig(simulation_enabled=False))


def load_simulation_material(path: Path, clock: Clock) -> SimulationSigningMaterial:
    """The simulated provider's signing material: read from ``path`` (0600), or created there on first use.

    A fresh chain is valid from an hour before the clock's time, so restarts keep signing with the same
    chain and a verifier configured with its root keeps accepting the quotes. Several processes starting at
    once agree on one file (it is published with an atomic link).
    """
    if not path.exists():
        start = clock.now_ms() // 1000 - SIMULATION_NOT_BEFORE_SLACK_SECS
        material = SimulationSigningMaterial.generate(not_before_secs=start)
        _publish_private(path, material.to_pem())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StartupError(f"{path} is accessible by other users (mode {mode:o}); chmod 600 it")
    try:
        return SimulationSigningMaterial.from_pem(path.read_bytes())
    except ValueError as exc:
        raise StartupError(f"{path}: not simulation signing material ({exc})") from None


def _publish_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file at ``path`` unless another process created it first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pem")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def write_public_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (mode 0644: certificates only)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
