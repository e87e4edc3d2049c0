"""GenerateQuote providers: produce a DCAP quote over 64 bytes of report data.

- ``ConfigfsTsmProvider``: Linux configfs-tsm (``/sys/kernel/config/tsm/report``; TDX guests, kernel >= 6.7);
- ``GramineProvider``: Gramine's ``/dev/attestation`` pseudo-files (SGX enclaves);
- ``SimulatedSgxProvider``: a structurally valid SGX quote signed by a local chain, for machines without a
  TEE. Only built on explicit request; verifiers trust it only when its root is configured as trusted.

Providers do blocking file I/O; async callers run ``generate`` in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from pyehsm.attest.simulation import SimulationSigningMaterial, build_simulated_quote

REPORT_DATA_SIZE: Final = 64
DEFAULT_CONFIGFS_TSM_ROOT: Final = "/sys/kernel/config/tsm/report"
DEFAULT_GRAMINE_ROOT: Final = "/dev/attestation"
SIMULATED_MR_ENCLAVE: Final = hashlib.sha256(b"pyehsm simulated enclave").digest()
SIMULATED_MR_SIGNER: Final = hashlib.sha256(b"pyehsm simulated enclave signer").digest()


class QuoteGenerationError(Exception):
    """The platform could not produce a quote (missing device, kernel error, concurrent writer)."""


class QuoteProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def simulated(self) -> bool: ...

    def generate(self, report_data: bytes) -> bytes:
        """A quote whose report_data field is ``report_data`` (exactly 64 bytes)."""
        ...


def report_data_for_challenge(challenge: bytes) -> bytes:
    """The 64-byte report_data a GenerateQuote challenge is bound into: SHA-512(challenge).

    The challenge (1..3072 bytes once base64-decoded) does not fit the 64-byte report_data field, so the
    server hashes it; a verifier that sent the challenge recomputes SHA-512 and compares it with the
    quote's report_data.
    """
    return hashlib.sha512(challenge).digest()


def _check_report_data(report_data: bytes) -> None:
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")


class ConfigfsTsmProvider:
    """Quotes through configfs-tsm: mkdir an entry, write ``inblob``, read ``outblob``, rmdir.

    The kernel creates the entry's attribute files on mkdir and produces ``outblob`` when it is read. When
    the entry has a ``generation`` file it is checked to detect another writer racing on the same entry.
    An entry name that already exists is reused (names are random; tests pre-create the entry).
    """

    name = "configfs-tsm"
    simulated = False

    def __init__(
        self, root: str | os.PathLike[str] = DEFAULT_CONFIGFS_TSM_ROOT, *, entry_name: Callable[[], str] | None = None
    ) -> None:
        self._root = Path(root)
        self._entry_name = entry_name or (lambda: f"pyehsm-{secrets.token_hex(16)}")

    @property
    def root(self) -> Path:
        return self._root

    def generate(self, report_data: bytes) -> bytes:
        _check_report_data(report_data)
        entry = self._root / self._entry_name()
        try:
            entry.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise QuoteGenerationError(f"configfs-tsm: cannot create {entry}: {exc.strerror}") from None
        try:
            before = _read_generation(entry)
            (entry / "inblob").write_bytes(report_data)
            quote = (entry / "outblob").read_bytes()
            after = _read_generation(entry)
        except OSError as exc:
            raise QuoteGenerationError(f"configfs-tsm: {exc.strerror or exc}") from None
        finally:
            # a real configfs removes the entry with its files; a plain directory keeps them
            with contextlib.suppress(OSError):
                entry.rmdir()
        if before is not None and after != before + 1:
            raise QuoteGenerationError("configfs-tsm: the report entry was written concurrently; retry")
        if not quote:
            raise QuoteGenerationError("configfs-tsm: empty outblob")
        return quote


def _read_generation(entry: Path) -> int | None:
    path = entry / "generation"
    if not path.exists():
        return None
    try:
        return int(path.read_text().strip())
    except ValueError:
        raise QuoteGenerationError("configfs-tsm: unreadable generation counter") from None


class GramineProvider:
    """Quotes through Gramine's pseudo-files: write ``user_report_data``, read ``quote``.

    The files are process-wide, so calls are serialised. When ``attestation_type`` exists it must be "dcap".
    """

    name = "gramine"
    simulated = False

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_GRAMINE_ROOT) -> None:
        self._root = Path(root)
        self._lock = threading.Lock()

    def generate(self, report_data: bytes) -> bytes:
        _check_report_data(report_data)
        kind_file = self._root / "attestation_type"
        with self._lock:
            try:
                if kind_file.exists():
                    kind = kind_file.read_text().strip()
                    if kind != "dcap":
                        raise QuoteGenerationError(f"gramine: attestation type is {kind!r}, need 'dcap'")
                (self._root / "user_report_data").write_bytes(report_data)
                quote = (self._root / "quote").read_bytes()
            except OSError as exc:
                raise QuoteGenerationError(f"gramine: {exc.strerror or exc}") from None
        if not quote:
            raise QuoteGenerationError("gramine: empty quote")
        return quote


class SimulatedSgxProvider:
    """SGX v3 quotes signed by a local "simulation root CA" -> "simulation PCK" chain. Explicit opt-in only.

    Each provider makes its own attestation key (as a quoting enclave would). The measurements are fixed
    fakes given here; verifiers accept these quotes only when ``root_certificate_pem()`` is configured as a
    trusted simulation root.
    """

    name = "simulated-sgx"
    simulated = True

    def __init__(
        self,
        material: SimulationSigningMaterial,
        *,
        mr_enclave: bytes = SIMULATED_MR_ENCLAVE,
        mr_signer: bytes = SIMULATED_MR_SIGNER,
        isv_prod_id: int = 0,
        isv_svn: int = 0,
    ) -> None:
        if len(mr_enclave) != 32 or len(mr_signer) != 32:
            raise ValueError("mr_enclave and mr_signer must be 32 bytes")
        if not (0 <= isv_prod_id <= 0xFFFF and 0 <= isv_svn <= 0xFFFF):
            raise ValueError("isv_prod_id and isv_svn are 16-bit values")
        self._material = material
        self._attestation_key = ec.generate_private_key(ec.SECP256R1())
        self.mr_enclave = mr_enclave
        self.mr_signer = mr_signer
        self.isv_prod_id = isv_prod_id
        self.isv_svn = isv_svn

    def root_certificate_pem(self) -> bytes:
        return self._material.root_certificate_pem()

    def generate(self, report_data: bytes) -> bytes:
        _check_report_data(report_data)
        return build_simulated_quote(
            self._material,
            self._attestation_key,
            mr_enclave=self.mr_enclave,
            mr_signer=self.mr_signer,
            isv_prod_id=self.isv_prod_id,
            isv_svn=self.isv_svn,
            report_data=report_data,
        )


@dataclass(frozen=True)
class QuoteProviderConfig:
    """Where to look for a quote provider. Simulation is off unless ``simulation_enabled``."""

    configfs_tsm_root: str = DEFAULT_CONFIGFS_TSM_ROOT
    gramine_root: str = DEFAULT_GRAMINE_ROOT
    simulation_enabled: bool = False
    simulation_material: SimulationSigningMaterial | None = None  # None: a fresh chain is generated
    simulation_mr_enclave: bytes = SIMULATED_MR_ENCLAVE
    simulation_mr_signer: bytes = SIMULATED_MR_SIGNER


def detect_provider(config: QuoteProviderConfig) -> QuoteProvider | None:
    """configfs-tsm if its directory exists, else Gramine if its quote file exists, else the simulated
    provider when explicitly enabled, else None (GenerateQuote is unavailable)."""
    if Path(config.configfs_tsm_root).is_dir():
        return ConfigfsTsmProvider(config.configfs_tsm_root)
    if (Path(config.gramine_root) / "quote").exists():
        return GramineProvider(config.gramine_root)
    if config.simulation_enabled:
        material = config.simulation_material or SimulationSigningMaterial.generate()
        return SimulatedSgxProvider(
            material, mr_enclave=config.simulation_mr_enclave, mr_signer=config.simulation_mr_signer
        )
    return None
