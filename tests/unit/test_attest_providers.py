"""GenerateQuote providers: configfs-tsm and Gramine against imitation directories, simulated SGX round trip."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.providers import (
    SIMULATED_MR_ENCLAVE,
    SIMULATED_MR_SIGNER,
    ConfigfsTsmProvider,
    GramineProvider,
    QuoteGenerationError,
    QuoteProvider,
    QuoteProviderConfig,
    SimulatedSgxProvider,
    detect_provider,
    report_data_for_challenge,
)
from pyehsm.attest.quote import parse_quote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import FixedCollateralProvider, TcbPolicy, Verdict, match_policy, verify_quote
from tests.vectors import attestation_file

FAKE_QUOTE = b"\x04\x00\x02\x00\x81\x00\x00\x00" + bytes(40)  # what the imitation devices "produce"
NO_COLLATERAL = FixedCollateralProvider("{}")  # simulated quotes never need collateral


@pytest.fixture(scope="module")
def material() -> SimulationSigningMaterial:
    return SimulationSigningMaterial.generate()


@pytest.fixture(scope="module")
def simulator(material: SimulationSigningMaterial) -> SimulatedSgxProvider:
    return SimulatedSgxProvider(material, mr_enclave=b"\x11" * 32, mr_signer=b"\x22" * 32, isv_prod_id=7, isv_svn=3)


async def verify_simulated(quote: bytes, roots: list[bytes], now: int | None = None) -> Verdict:
    now_secs = int(time.time()) if now is None else now
    return await verify_quote(quote, NO_COLLATERAL, now_secs, TcbPolicy(), trusted_simulation_roots=roots)


def test_report_data_for_challenge_is_sha512() -> None:
    assert report_data_for_challenge(b"challenge") == hashlib.sha512(b"challenge").digest()
    assert len(report_data_for_challenge(b"")) == 64


# --- simulated SGX --------------------------------------------------------------------------------


async def test_simulated_round_trip(simulator: SimulatedSgxProvider) -> None:
    challenge = b"a client's challenge"
    quote = simulator.generate(report_data_for_challenge(challenge))
    verdict = await verify_simulated(quote, [simulator.root_certificate_pem()])
    assert verdict.ok, verdict.reason
    assert (verdict.simulated, verdict.tcb_status, verdict.advisory_ids, verdict.reason) == (
        True,
        "Simulated",
        (),
        "",
    )
    parsed = verdict.quote
    assert parsed is not None
    assert bytes.fromhex(parsed.report_data) == hashlib.sha512(challenge).digest()
    assert (parsed.version, parsed.tee, parsed.isv_prod_id, parsed.isv_svn) == (3, "SGX", 7, 3)
    assert match_policy(parsed, "11" * 32, "22" * 32)
    assert not match_policy(parsed, "11" * 32, "33" * 32)


async def test_simulated_root_given_as_der(simulator: SimulatedSgxProvider) -> None:
    quote = simulator.generate(bytes(64))
    root = x509.load_pem_x509_certificate(simulator.root_certificate_pem())
    assert (await verify_simulated(quote, [root.public_bytes(serialization.Encoding.DER)])).ok


async def test_untrusted_simulated_quote_fails(simulator: SimulatedSgxProvider) -> None:
    quote = simulator.generate(bytes(64))
    verdict = await verify_simulated(quote, [])
    assert not verdict.ok and not verdict.simulated
    assert "Intel SGX Root CA" in verdict.reason
    other_root = SimulationSigningMaterial.generate().root_certificate_pem()
    assert not (await verify_simulated(quote, [other_root])).ok
    # nor does an Intel collateral make it verify
    intel = FixedCollateralProvider(attestation_file("sgx_quote_collateral.json"))
    assert not (await verify_quote(quote, intel, 1750332747, TcbPolicy())).ok


async def test_every_flipped_byte_of_a_simulated_quote_fails(simulator: SimulatedSgxProvider) -> None:
    quote = simulator.generate(report_data_for_challenge(b"tamper"))
    roots = [simulator.root_certificate_pem()]
    now = int(time.time())
    accepted = []
    for offset in range(len(quote)):
        tampered = bytearray(quote)
        tampered[offset] ^= 0x01 if offset % 2 else 0x80
        verdict = await verify_simulated(bytes(tampered), roots, now)
        if verdict.ok:
            accepted.append(offset)
    assert accepted == []
    assert not (await verify_simulated(quote + b"\x00", roots, now)).ok  # no trailing bytes
    assert not (await verify_simulated(quote[:-1], roots, now)).ok


async def test_simulated_certificates_expire(material: SimulationSigningMaterial) -> None:
    quote = SimulatedSgxProvider(material).generate(bytes(64))
    roots = [material.root_certificate_pem()]
    not_after = int(material.root_certificate.not_valid_after_utc.timestamp())
    not_before = int(material.root_certificate.not_valid_before_utc.timestamp())
    assert (await verify_simulated(quote, roots, not_after)).ok
    late = await verify_simulated(quote, roots, not_after + 1)
    assert not late.ok and "not valid at" in late.reason
    assert not (await verify_simulated(quote, roots, not_before - 1)).ok


async def test_simulation_material_survives_a_restart(material: SimulationSigningMaterial) -> None:
    restored = SimulationSigningMaterial.from_pem(material.to_pem())
    assert restored.root_certificate_pem() == material.root_certificate_pem()
    quote = SimulatedSgxProvider(restored).generate(bytes(64))
    assert (await verify_simulated(quote, [material.root_certificate_pem()])).ok
    with pytest.raises(ValueError):
        SimulationSigningMaterial.from_pem(material.chain_pem())


def test_simulated_defaults_and_input_checks(material: SimulationSigningMaterial) -> None:
    provider = SimulatedSgxProvider(material)
    assert provider.simulated and provider.name == "simulated-sgx"
    parsed = parse_quote(provider.generate(bytes(64)))
    assert parsed.mr_enclave == SIMULATED_MR_ENCLAVE.hex()
    assert parsed.mr_signer == SIMULATED_MR_SIGNER.hex()
    for bad in (b"", bytes(63), bytes(65)):
        with pytest.raises(ValueError, match="64 bytes"):
            provider.generate(bad)
    with pytest.raises(ValueError):
        SimulatedSgxProvider(material, mr_enclave=bytes(31))
    with pytest.raises(ValueError):
        SimulatedSgxProvider(material, isv_svn=1 << 16)


# --- configfs-tsm ---------------------------------------------------------------------------------


def test_configfs_tsm_writes_inblob_and_reads_outblob(tmp_path: Path) -> None:
    entry = tmp_path / "report" / "entry0"
    entry.mkdir(parents=True)
    (entry / "outblob").write_bytes(FAKE_QUOTE)  # the kernel would generate it when read
    provider = ConfigfsTsmProvider(tmp_path / "report", entry_name=lambda: "entry0")
    report_data = report_data_for_challenge(b"c")
    assert provider.generate(report_data) == FAKE_QUOTE
    assert (entry / "inblob").read_bytes() == report_data
    assert not provider.simulated and provider.name == "configfs-tsm"


def test_configfs_tsm_detects_a_concurrent_writer(tmp_path: Path) -> None:
    entry = tmp_path / "entry0"
    entry.mkdir()
    (entry / "outblob").write_bytes(FAKE_QUOTE)
    (entry / "generation").write_text("5\n")  # our write should have made it 6
    provider = ConfigfsTsmProvider(tmp_path, entry_name=lambda: "entry0")
    with pytest.raises(QuoteGenerationError, match="concurrently"):
        provider.generate(bytes(64))


def test_configfs_tsm_errors(tmp_path: Path) -> None:
    with pytest.raises(QuoteGenerationError, match="cannot create"):
        ConfigfsTsmProvider(tmp_path / "missing" / "report").generate(bytes(64))
    with pytest.raises(QuoteGenerationError, match="configfs-tsm"):  # no outblob: the kernel refused
        ConfigfsTsmProvider(tmp_path).generate(bytes(64))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "outblob").write_bytes(b"")
    with pytest.raises(QuoteGenerationError, match="empty outblob"):
        ConfigfsTsmProvider(tmp_path, entry_name=lambda: "empty").generate(bytes(64))
    with pytest.raises(ValueError):
        ConfigfsTsmProvider(tmp_path).generate(b"short")


# --- Gramine --------------------------------------------------------------------------------------


def test_gramine_writes_user_report_data_and_reads_quote(tmp_path: Path) -> None:
    (tmp_path / "attestation_type").write_text("dcap\n")
    (tmp_path / "quote").write_bytes(FAKE_QUOTE)
    provider = GramineProvider(tmp_path)
    report_data = report_data_for_challenge(b"g")
    assert provider.generate(report_data) == FAKE_QUOTE
    assert (tmp_path / "user_report_data").read_bytes() == report_data
    assert not provider.simulated and provider.name == "gramine"


def test_gramine_errors(tmp_path: Path) -> None:
    with pytest.raises(QuoteGenerationError, match="gramine"):
        GramineProvider(tmp_path / "missing").generate(bytes(64))
    (tmp_path / "attestation_type").write_text("none")
    (tmp_path / "quote").write_bytes(FAKE_QUOTE)
    with pytest.raises(QuoteGenerationError, match="'none'"):
        GramineProvider(tmp_path).generate(bytes(64))
    with pytest.raises(ValueError):
        GramineProvider(tmp_path).generate(bytes(32))


# --- detection ------------------------------------------------------------------------------------


def test_detect_provider_order(tmp_path: Path, material: SimulationSigningMaterial) -> None:
    tsm, gramine = tmp_path / "tsm", tmp_path / "gramine"
    config = QuoteProviderConfig(configfs_tsm_root=str(tsm), gramine_root=str(gramine))
    assert detect_provider(config) is None  # nothing there, simulation off

    simulated = QuoteProviderConfig(
        configfs_tsm_root=str(tsm), gramine_root=str(gramine), simulation_enabled=True, simulation_material=material
    )
    provider: QuoteProvider | None = detect_provider(simulated)
    assert isinstance(provider, SimulatedSgxProvider) and provider.simulated
    assert provider.root_certificate_pem() == material.root_certificate_pem()

    gramine.mkdir()
    (gramine / "quote").write_bytes(FAKE_QUOTE)
    assert isinstance(detect_provider(simulated), GramineProvider)

    tsm.mkdir()
    assert isinstance(detect_provider(simulated), ConfigfsTsmProvider)


def test_detect_provider_generates_material_when_none_given(tmp_path: Path) -> None:
    config = QuoteProviderConfig(
        configfs_tsm_root=str(tmp_path / "no"), gramine_root=str(tmp_path / "no"), simulation_enabled=True
    )
    provider = detect_provider(config)
    assert isinstance(provider, SimulatedSgxProvider)
    assert provider.root_certificate_pem().startswith(b"-----BEGIN CERTIFICATE-----")
