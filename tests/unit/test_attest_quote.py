"""Quote parser: real SGX v3 / TDX v4 quotes (checked against dcap-qvl's parser), malformed input, fuzzing."""

from __future__ import annotations

import struct

import dcap_qvl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyehsm.attest.quote import MAX_QUOTE_SIZE, ParsedQuote, QuoteFormatError, parse_quote
from tests.vectors import attestation_file

SGX_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SGX_MR_SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
SGX_QUOTE = attestation_file("sgx_quote")
TDX_QUOTE = attestation_file("tdx_quote")
TD_FIELDS = (
    "tee_tcb_svn",
    "mr_seam",
    "mr_signer_seam",
    "seam_attributes",
    "td_attributes",
    "xfam",
    "mr_td",
    "mr_config_id",
    "mr_owner",
    "mr_owner_config",
    "report_data",
)


def parse_or_format_error(data: bytes) -> ParsedQuote | None:
    try:
        return parse_quote(data)
    except QuoteFormatError as exc:
        assert str(exc)
        return None


def test_sgx_quote_fields() -> None:
    parsed = parse_quote(SGX_QUOTE)
    assert (parsed.version, parsed.tee, parsed.attestation_key_type) == (3, "SGX", 2)
    assert parsed.mr_enclave == SGX_MR_ENCLAVE
    assert parsed.mr_signer == SGX_MR_SIGNER
    assert (parsed.isv_prod_id, parsed.isv_svn) == (0, 0)
    assert bytes.fromhex(parsed.report_data).startswith(b"Hello, world!")
    assert parsed.qe_vendor_id == "939a7233f79c4ca9940a0db3957f0607"
    assert parsed.quote_size == len(SGX_QUOTE)
    assert parsed.mr_td is None and parsed.rtmrs is None
    oracle = dcap_qvl.parse_quote(SGX_QUOTE).report
    for name in ("mr_enclave", "mr_signer", "report_data", "cpu_svn", "attributes"):
        assert getattr(parsed, name) == getattr(oracle, name).hex(), name


def test_tdx_quote_fields() -> None:
    parsed = parse_quote(TDX_QUOTE)
    assert (parsed.version, parsed.tee) == (4, "TDX")
    assert parsed.mr_enclave is None and parsed.mr_signer is None and parsed.isv_svn is None
    oracle = dcap_qvl.parse_quote(TDX_QUOTE).report
    for name in TD_FIELDS:
        assert getattr(parsed, name) == getattr(oracle, name).hex(), name
    assert parsed.rtmrs == tuple(getattr(oracle, f"rt_mr{i}").hex() for i in range(4))
    assert all(len(value) == 96 for value in parsed.rtmrs)
    # the vector carries 70 bytes of zero padding after its signature data
    assert parsed.quote_size == 4936 < len(TDX_QUOTE)
    assert not TDX_QUOTE[parsed.quote_size :].strip(b"\x00")


@pytest.mark.parametrize("quote", [SGX_QUOTE, TDX_QUOTE], ids=["sgx", "tdx"])
def test_signature_structure(quote: bytes) -> None:
    parsed = parse_quote(quote)
    sig = parsed.signature
    assert len(parsed.signed_data) == (432 if parsed.tee == "SGX" else 632)
    assert quote.startswith(parsed.signed_data)
    assert len(sig.isv_signature) == len(sig.attestation_key) == len(sig.qe_report_signature) == 64
    assert len(sig.qe_report) == 384
    assert sig.cert_data_type == 5
    pem = parsed.pck_chain_pem
    assert pem is not None and pem.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert pem == dcap_qvl.parse_quote(quote).cert_chain_pem_bytes()


@pytest.mark.parametrize("quote", [SGX_QUOTE, TDX_QUOTE], ids=["sgx", "tdx"])
def test_every_truncation_is_a_format_error(quote: bytes) -> None:
    size = parse_quote(quote).quote_size
    for length in range(size):
        with pytest.raises(QuoteFormatError):
            parse_quote(quote[:length])


def test_error_messages_name_the_problem() -> None:
    with pytest.raises(QuoteFormatError, match="truncated quote: SGX report body needs 384 bytes"):
        parse_quote(SGX_QUOTE[:100])
    with pytest.raises(QuoteFormatError, match="unsupported quote version 5"):
        parse_quote(struct.pack("<H", 5) + SGX_QUOTE[2:])
    with pytest.raises(QuoteFormatError, match="attestation key type 3"):
        parse_quote(SGX_QUOTE[:2] + struct.pack("<H", 3) + SGX_QUOTE[4:])
    with pytest.raises(QuoteFormatError, match="TEE type 0x81 for quote version 3"):
        parse_quote(SGX_QUOTE[:4] + struct.pack("<I", 0x81) + SGX_QUOTE[8:])
    with pytest.raises(QuoteFormatError, match="more than"):
        parse_quote(bytes(MAX_QUOTE_SIZE + 1))
    # a signature length one byte too long or too short
    sig_len = struct.unpack_from("<I", SGX_QUOTE, 432)[0]
    with pytest.raises(QuoteFormatError, match="signature data needs"):
        parse_quote(SGX_QUOTE[:432] + struct.pack("<I", sig_len + 1) + SGX_QUOTE[436:])
    with pytest.raises(QuoteFormatError, match="certification data needs"):
        parse_quote(SGX_QUOTE[:432] + struct.pack("<I", sig_len - 1) + SGX_QUOTE[436:])
    with pytest.raises(QuoteFormatError, match="bytes after its certification data"):
        parse_quote(SGX_QUOTE[:432] + struct.pack("<I", sig_len + 1) + SGX_QUOTE[436:] + b"\x00")


def test_not_bytes_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_quote("not bytes")  # type: ignore[arg-type]


_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    parse_or_format_error(data)


@_FUZZ
@given(
    st.sampled_from([3, 4, 5]),
    st.sampled_from([2, 3]),
    st.sampled_from([0, 0x81, 7]),
    st.binary(max_size=1500),
)
def test_fuzz_plausible_headers(version: int, key_type: int, tee: int, rest: bytes) -> None:
    parse_or_format_error(struct.pack("<HHI", version, key_type, tee) + bytes(40) + rest)


@_FUZZ
@given(
    st.sampled_from([SGX_QUOTE, TDX_QUOTE]),
    st.integers(min_value=0, max_value=5100),
    st.lists(st.tuples(st.integers(min_value=0, max_value=5100), st.integers(0, 255)), max_size=4),
)
def test_fuzz_truncated_and_mutated_real_quotes(quote: bytes, cut: int, edits: list[tuple[int, int]]) -> None:
    data = bytearray(quote[:cut])
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    parse_or_format_error(bytes(data))


@_FUZZ
@given(st.sampled_from([SGX_QUOTE, TDX_QUOTE]), st.integers(min_value=432, max_value=1300), st.binary(max_size=6))
def test_fuzz_length_fields(quote: bytes, offset: int, junk: bytes) -> None:
    """Overwrite bytes around the length fields (signature length, auth data size, cert data sizes)."""
    parse_or_format_error(quote[:offset] + junk + quote[offset + len(junk) :])
