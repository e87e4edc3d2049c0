"""Building the attestation service from its options: collateral sources, quote provider, trusted roots.

app.py fills :class:`AttestationOptions` from the server's settings (services never read configuration);
every problem is a StartupError naming the option. The service itself is services/attestation.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
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
    QuoteProvider,
    QuoteProviderConfig,
    SimulatedSgxProvider,
    detect_provider,
)
from pyehsm.attest.quote import ParsedQuote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import (
    Collateral,
    CollateralUnavailable,
    OfflineBundleProvider,
    PccsProvider,
    TcbPolicy,
    collateral_expiry,
)
from pyehsm.clock import Clock
from pyehsm.errors import StartupError
from pyehsm.services.attestation import AttestationService
from pyehsm.store.base import Store

log = logging.getLogger("pyehsm.attestation")

NO_COLLATERAL_SOURCE: Final = (
    "no collateral for this quote: the server has no collateral source (start it with --collateral-dir or --pccs-url)"
)
SIMULATION_NOT_BEFORE_SLACK_SECS: Final = 3600


@dataclass(frozen=True, slots=True)
class AttestationOptions:
    """The server options attestation is built from (the --option each field comes from is in the name)."""

    pccs_cache_dir: Path  # data_dir/pccs-cache
    simulation_material_path: Path  # the simulated provider's PCK key and chain (0600)
    simulation_root_path: Path  # its root certificate, for --trust-simulated-root
    collateral_dir: str = ""  # offline bundle, tried first ("" = none)
    pccs_url: str = ""  # PCCS / Intel PCS, tried after the bundle ("" = never use the network)
    pccs_cache_entries: int = 64
    tcb_allow: tuple[str, ...] = ()  # TCB statuses VerifyQuote accepts besides UpToDate
    quote_provider: str = "auto"  # auto | configfs-tsm | gramine | simulated | none
    trust_simulated_roots: tuple[str, ...] = ()  # PEM or DER files


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


# --- construction -------------------------------------------------------------------------------


def open_attestation(settings: AttestationOptions, store: Store, clock: Clock) -> AttestationService:
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


def open_quote_provider(settings: AttestationOptions, clock: Clock) -> QuoteProvider | None:
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
