"""VerifyQuote on malformed quotes: every mutation of a real SGX/TDX quote (and of a simulated one) ends as a
ParamError (not a DCAP quote) or a false result with a reason, never another exception (a 500 over HTTP).

The mutations are deterministic: every byte of each quote flipped, every truncation, trailing bytes, and
every byte of each embedded certificate's DER changed (re-encoded as the same-length PEM, so the quote's
length fields stay right and the mutation reaches the certificate parser instead of the quote parser).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.chain import certificate_der, embedded_chain
from pyehsm.attest.collateral import CollateralUnavailable, FixedCollateralProvider, require_intel_chain
from pyehsm.attest.providers import SimulatedSgxProvider
from pyehsm.attest.quote import QuoteFormatError, parse_quote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import TcbPolicy, verify_quote
from pyehsm.clock import ManualClock
from pyehsm.errors import MalformedParameter
from pyehsm.protocols.ehsm.errors import to_ehsm
from pyehsm.services.attestation import AttestationService, QuoteCheck
from pyehsm.store.sqlite import SqliteStore
from tests.vectors import attestation_file

T = 1750332747  # the vectors' collateral is valid then
PERMISSIVE = TcbPolicy(frozenset({"UpToDate", "ConfigurationAndSWHardeningNeeded"}))
SGX_QUOTE = attestation_file("sgx_quote")
TDX_QUOTE = attestation_file("tdx_quote")
SGX_COLLATERAL = attestation_file("sgx_quote_collateral.json")
TDX_COLLATERAL = attestation_file("tdx_quote_collateral.json")
SIMULATION = SimulationSigningMaterial.generate(not_before_secs=T - 3600)
SIM_QUOTE = SimulatedSgxProvider(SIMULATION).generate(bytes(64))
SIM_ROOT = SIMULATION.root_certificate_pem()
CASES = {  # quote, its collateral, the simulated roots to trust
    "sgx": (SGX_QUOTE, SGX_COLLATERAL, ()),
    "tdx": (TDX_QUOTE, TDX_COLLATERAL, ()),
    "sim": (SIM_QUOTE, SGX_COLLATERAL, (SIM_ROOT,)),
}
CHAIN_UNPARSABLE = "the quote's certificate chain cannot be parsed"
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)-----END CERTIFICATE-----\n")


# --- building malformed quotes ------------------------------------------------------------------


def certificates(quote: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, DER) of each PEM certificate embedded in ``quote``, leaf first."""
    return [(m.start(1), m.end(1), base64.b64decode(m.group(1))) for m in _PEM_BLOCK.finditer(quote)]


def with_certificate(quote: bytes, index: int, der: bytes) -> bytes:
    """``quote`` with its ``index``-th certificate replaced by ``der`` (same length: no length field moves)."""
    start, end, old = certificates(quote)[index]
    assert len(der) == len(old)
    body = base64.b64encode(der)
    pem = b"".join(body[i : i + 64] + b"\n" for i in range(0, len(body), 64))
    assert len(pem) == end - start
    return quote[:start] + pem + quote[end:]


def edit_der(der: bytes, find: bytes, offset: int, value: int) -> bytes:
    """``der`` with the byte at ``offset`` within the first occurrence of ``find`` set to ``value``."""
    at = der.index(find) + offset
    return der[:at] + bytes([value]) + der[at + 1 :]


def invalid_version_quote(quote: bytes) -> bytes:
    """The quote with its PCK certificate's version field (the [0] EXPLICIT INTEGER, 2 = v3) set to 3."""
    der = certificates(quote)[0][2]
    assert der[8:13] == bytes.fromhex("a003020102")  # SEQUENCE { SEQUENCE (tbs) { [0] { INTEGER 2 } ...
    bad = der[:12] + b"\x03" + der[13:]
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(bad)
    return with_certificate(quote, 0, bad)


def certificate_mutations(quote: bytes) -> Iterator[bytes]:
    """Every byte of every embedded certificate's DER, XORed with 0x01 and set to 0x00."""
    for index, (_, _, der) in enumerate(certificates(quote)):
        for offset, byte in enumerate(der):
            for value in {byte ^ 0x01, 0x00} - {byte}:
                yield with_certificate(quote, index, der[:offset] + bytes([value]) + der[offset + 1 :])


def quote_mutations(quote: bytes) -> Iterator[bytes]:
    """Every byte flipped, every truncation, and the quote extended by zero and non-zero bytes."""
    for offset in range(len(quote)):
        yield quote[:offset] + bytes([quote[offset] ^ 0x01]) + quote[offset + 1 :]
    for length in range(len(quote)):
        yield quote[:length]
    for tail in (b"\x00", bytes(100), b"\x01", b"\xff" * 7, SGX_QUOTE):
        yield quote + tail


# --- the service, with a real store --------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    db = SqliteStore(tmp_path / "pyehsm.db")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def service(store: SqliteStore, name: str) -> AttestationService:
    _, collateral, roots = CASES[name]
    return AttestationService(
        store,
        ManualClock(T * 1000),
        FixedCollateralProvider(collateral),
        PERMISSIVE,
        trusted_simulation_roots=roots,
    )


async def check_outcome(svc: AttestationService, quote: bytes) -> QuoteCheck | None:
    """The service's answer: a QuoteCheck, or None for a ParamError; any other exception fails the test."""
    try:
        return await svc.verify_quote("app", quote, None)
    except MalformedParameter as exc:
        assert to_ehsm(exc).message.startswith("Parameter invalid, The quote format wrong: ")
        return None


# --- regressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
async def test_invalid_certificate_version_is_a_false_result(store: SqliteStore, name: str) -> None:
    quote = invalid_version_quote(CASES[name][0])
    check = await service(store, name).verify_quote("app", quote, None)
    assert not check.valid
    assert check.reason == CHAIN_UNPARSABLE
    assert embedded_chain(parse_quote(quote)) is None


def test_invalid_certificate_version_is_collateral_unavailable() -> None:
    """What the PCCS provider checks before any request, with an unparsable chain."""
    with pytest.raises(CollateralUnavailable, match="does not end at the Intel SGX Root CA"):
        require_intel_chain(parse_quote(invalid_version_quote(SGX_QUOTE)))


def test_intermediate_certificate_with_a_duplicate_extension_is_collateral_unavailable() -> None:
    """The PCCS path checks the chain itself: cryptography raises DuplicateExtension (not a ValueError)."""
    der = certificates(SGX_QUOTE)[1][2]
    bad = edit_der(der, bytes.fromhex("0603551d13"), 4, 0x0F)  # basicConstraints -> a second keyUsage
    with pytest.raises(x509.DuplicateExtension):
        _ = x509.load_der_x509_certificate(bad).extensions
    with pytest.raises(CollateralUnavailable, match="is not a CA"):
        require_intel_chain(parse_quote(with_certificate(SGX_QUOTE, 1, bad)))


def test_intermediate_certificate_with_an_unknown_key_algorithm_is_collateral_unavailable() -> None:
    der = certificates(SGX_QUOTE)[1][2]
    bad = edit_der(der, bytes.fromhex("06072a8648ce3d0201"), 2, 0x00)  # ecPublicKey -> 0.0.840.10045.2.1
    with pytest.raises(UnsupportedAlgorithm):
        x509.load_der_x509_certificate(bad).public_key()
    with pytest.raises(CollateralUnavailable, match="is not signed by its issuer"):
        require_intel_chain(parse_quote(with_certificate(SGX_QUOTE, 1, bad)))


# --- deterministic fuzzing -----------------------------------------------------------------------


def test_the_mutations_reach_the_certificates() -> None:
    """The helpers really rewrite DER (3 certificates in Intel quotes, 2 in simulated ones)."""
    assert [len(certificates(CASES[name][0])) for name in ("sgx", "tdx", "sim")] == [3, 3, 2]
    for name in CASES:
        quote = CASES[name][0]
        assert with_certificate(quote, 0, certificates(quote)[0][2]) == quote
        assert parse_quote(invalid_version_quote(quote)).quote_size == parse_quote(quote).quote_size


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_certificate_byte_mutation_is_a_false_result(store: SqliteStore, name: str) -> None:
    svc = service(store, name)
    count = 0
    for quote in certificate_mutations(CASES[name][0]):
        check = await check_outcome(svc, quote)
        assert check is not None  # the quote structure is intact: only the certificates changed
        assert not check.valid and check.reason
        # what the PCCS provider checks before any request: refuses or passes (DCAP verifies afterwards; e.g.
        # the unused-bits byte of the PCK certificate's signature BIT STRING does not change the check)
        with contextlib.suppress(CollateralUnavailable):
            require_intel_chain(parse_quote(quote))
        count += 1
    assert count > 2 * 600


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_flip_truncation_and_extension_is_a_param_error_or_a_false_result(
    store: SqliteStore, name: str
) -> None:
    svc = service(store, name)
    quote = CASES[name][0]
    size = parse_quote(quote).quote_size
    outcomes = set()
    for mutated in quote_mutations(quote):
        check = await check_outcome(svc, mutated)
        if check is None:
            with pytest.raises(QuoteFormatError):
                parse_quote(mutated)
            outcomes.add("error")
        elif check.valid:  # only zero padding (never on a simulated quote) keeps a quote valid
            assert name != "sim"
            assert mutated[:size] == quote[:size] and not mutated[size:].strip(b"\x00")
            outcomes.add("valid")
        else:
            assert check.reason
            outcomes.add("false")
    assert outcomes == ({"error", "false"} if name == "sim" else {"error", "false", "valid"})


def test_a_trusted_root_with_an_invalid_version_is_a_value_error() -> None:
    """--trust-simulated-root reads certificates with certificate_der: StartupError for a ValueError only."""
    der = SIMULATION.root_certificate.public_bytes(serialization.Encoding.DER)
    bad = der[:12] + b"\x03" + der[13:]
    with pytest.raises(ValueError, match=r"not an X\.509 certificate"):
        certificate_der(bad)


def test_a_signature_bit_string_claiming_unused_bits_is_refused() -> None:
    """cryptography verifies a certificate whose signature BIT STRING claims 1 unused bit (when the last bit
    is 0): the byte could change in a simulated quote without failing verification. Such a chain is refused."""
    while True:  # a PCK certificate whose signature ends with a zero bit (every other try)
        material = SimulationSigningMaterial.generate(not_before_secs=T - 3600)
        if not material.pck_certificate.signature[-1] & 1:
            break
    quote = SimulatedSgxProvider(material).generate(bytes(64))
    der = certificates(quote)[0][2]
    at = len(der) - len(material.pck_certificate.signature) - 1
    assert der[at] == 0  # the unused-bits byte
    bad = der[:at] + b"\x01" + der[at + 1 :]
    bad_cert = x509.load_der_x509_certificate(bad)
    bad_cert.verify_directly_issued_by(material.root_certificate)  # cryptography accepts it
    trusted = (material.root_certificate_pem(),)
    verdict_ok = asyncio.run(verify_quote(quote, FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE, trusted))
    assert verdict_ok.ok
    tampered = with_certificate(quote, 0, bad)
    verdict = asyncio.run(verify_quote(tampered, FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE, trusted))
    assert not verdict.ok and verdict.reason == "simulated quote: certificate chain is not canonically encoded"
