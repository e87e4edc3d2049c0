"""Quote verification with dcap-qvl on real SGX/TDX quotes, collateral providers, TCB policy, policy matching."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyehsm.attest.quote import parse_quote
from pyehsm.attest.verify import (
    CollateralUnavailable,
    FixedCollateralProvider,
    OfflineBundleProvider,
    PccsProvider,
    TcbPolicy,
    Verdict,
    collateral_expiry,
    load_collateral,
    match_policy,
    platform_ids,
    verify_quote,
)
from tests.vectors import attestation_file

T = 1750332747  # 2025-06-19: the vectors' collateral is valid then
DAY = 86_400
SGX_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SGX_MR_SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
SGX_ADVISORIES = ("INTEL-SA-00289", "INTEL-SA-00615")
SGX_FMSPC, TDX_FMSPC = "00a067110000", "b0c06f000000"
PERMISSIVE = TcbPolicy(frozenset({"UpToDate", SGX_STATUS}))

SGX_QUOTE = attestation_file("sgx_quote")
TDX_QUOTE = attestation_file("tdx_quote")
SGX_COLLATERAL = attestation_file("sgx_quote_collateral.json")
TDX_COLLATERAL = attestation_file("tdx_quote_collateral.json")
QUOTES = {"sgx": (SGX_QUOTE, SGX_COLLATERAL), "tdx": (TDX_QUOTE, TDX_COLLATERAL)}


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


# --- verification with the vectors --------------------------------------------------------------


async def test_sgx_quote_status_rejected_by_default_policy() -> None:
    verdict = await verify_quote(SGX_QUOTE, FixedCollateralProvider(SGX_COLLATERAL), T, TcbPolicy())
    assert not verdict.ok
    assert verdict.tcb_status == SGX_STATUS
    assert verdict.advisory_ids == SGX_ADVISORIES
    assert verdict.reason == f"TCB status {SGX_STATUS} not accepted by policy"
    assert verdict.quote is not None and verdict.quote.mr_enclave == SGX_MR_ENCLAVE
    assert not verdict.simulated


async def test_sgx_quote_verifies_when_its_status_is_allowed() -> None:
    verdict = await verify_quote(SGX_QUOTE, FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE)
    assert verdict.ok and verdict.reason == ""
    assert (verdict.tcb_status, verdict.advisory_ids) == (SGX_STATUS, SGX_ADVISORIES)


async def test_tdx_quote_verifies_up_to_date() -> None:
    verdict = await verify_quote(TDX_QUOTE, FixedCollateralProvider(TDX_COLLATERAL), T, TcbPolicy())
    assert verdict.ok, verdict.reason
    assert (verdict.tcb_status, verdict.advisory_ids, verdict.reason) == ("UpToDate", (), "")
    assert verdict.quote is not None and verdict.quote.tee == "TDX"


@pytest.mark.parametrize("name", ["sgx", "tdx"])
async def test_todays_time_fails_with_expired_crl(name: str) -> None:
    quote, collateral = QUOTES[name]
    verdict = await verify_quote(quote, FixedCollateralProvider(collateral), int(time.time()), PERMISSIVE)
    assert not verdict.ok
    assert verdict.reason.startswith("CrlExpired")


@pytest.mark.parametrize("name", ["sgx", "tdx"])
async def test_expired_tcb_info_fails(name: str) -> None:
    quote, collateral = QUOTES[name]
    verdict = await verify_quote(quote, FixedCollateralProvider(collateral), T + 40 * DAY, PERMISSIVE)
    assert not verdict.ok and verdict.reason == "TCBInfo expired"


async def test_flip_at_offset_100_names_the_isv_signature() -> None:
    for quote, collateral in QUOTES.values():
        verdict = await verify_quote(flip(quote, 100), FixedCollateralProvider(collateral), T, PERMISSIVE)
        assert not verdict.ok
        assert verdict.reason == "ISV enclave report signature is invalid"


# header, report body, signature length, ISV signature, attestation key, QE report, QE signature,
# PCK leaf, intermediate and root certificates, a PEM newline, the final NUL / TDX padding
FLIP_OFFSETS = [0, 8, 12, 30, 60, 100, 300, 433, 450, 520, 700, 1000, 1300, 1500, 2000, 3100, 3700, 4000, -1]


@pytest.mark.parametrize("name", ["sgx", "tdx"])
@pytest.mark.parametrize("offset", FLIP_OFFSETS)
@pytest.mark.parametrize("mask", [0x01, 0x80])
async def test_any_flipped_byte_fails(name: str, offset: int, mask: int) -> None:
    quote, collateral = QUOTES[name]
    verdict = await verify_quote(flip(quote, offset, mask), FixedCollateralProvider(collateral), T, PERMISSIVE)
    assert not verdict.ok
    assert verdict.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed quote: truncated quote: header version"),
        (b"garbage" * 10, "malformed quote: unsupported quote version"),
        (SGX_QUOTE[:1000], "malformed quote: truncated quote"),
    ],
)
async def test_malformed_quote_is_a_verdict(data: bytes, reason: str) -> None:
    verdict = await verify_quote(data, FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE)
    assert not verdict.ok and verdict.quote is None
    assert verdict.reason.startswith(reason)


async def test_trailing_bytes_must_be_zero() -> None:
    ok = await verify_quote(SGX_QUOTE + bytes(16), FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE)
    assert ok.ok
    bad = await verify_quote(SGX_QUOTE + b"\x01", FixedCollateralProvider(SGX_COLLATERAL), T, PERMISSIVE)
    assert not bad.ok and "non-zero bytes" in bad.reason


async def test_wrong_collateral_fails() -> None:
    verdict = await verify_quote(SGX_QUOTE, FixedCollateralProvider(TDX_COLLATERAL), T, PERMISSIVE)
    assert not verdict.ok and verdict.reason


async def test_bad_collateral_json_is_a_verdict() -> None:
    verdict = await verify_quote(SGX_QUOTE, FixedCollateralProvider("{}"), T, PERMISSIVE)
    assert not verdict.ok and verdict.reason.startswith("invalid collateral JSON")


def test_tcb_policy_refuses_unsafe_statuses() -> None:
    assert TcbPolicy().accepted_statuses == frozenset({"UpToDate"})
    for status in ("OutOfDate", "Revoked", "OutOfDateConfigurationNeeded", "Simulated"):
        with pytest.raises(ValueError, match="cannot be accepted"):
            TcbPolicy(frozenset({status}))
    policy = TcbPolicy(frozenset({"SWHardeningNeeded"}))
    assert policy.accepts("SWHardeningNeeded") and not policy.accepts("UpToDate")


def test_collateral_expiry_is_the_earliest_next_update() -> None:
    for raw in (SGX_COLLATERAL, TDX_COLLATERAL):
        collateral = load_collateral(raw)
        expiry = collateral_expiry(collateral)
        assert T < expiry < T + 31 * DAY  # TCB info and QE identity are issued for 30 days
        tcb_next_update = dt.datetime.fromisoformat(json.loads(collateral.tcb_info)["nextUpdate"])
        assert expiry <= tcb_next_update.timestamp()


def test_platform_ids_come_from_the_pck_certificate() -> None:
    assert platform_ids(SGX_QUOTE) == (SGX_FMSPC, "processor")
    assert platform_ids(TDX_QUOTE) == (TDX_FMSPC, "platform")
    with pytest.raises(CollateralUnavailable, match="FMSPC"):
        platform_ids(SGX_QUOTE[:500])


# --- policy matching ----------------------------------------------------------------------------


def _other_hex(value: str, position: int) -> str:
    digit = "0" if value[position] != "0" else "1"
    return value[:position] + digit + value[position + 1 :]


def test_match_policy_sgx() -> None:
    parsed = parse_quote(SGX_QUOTE)
    assert match_policy(parsed, SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    assert match_policy(parsed, SGX_MR_ENCLAVE.upper(), SGX_MR_SIGNER.upper())
    assert match_policy(parsed, SGX_MR_ENCLAVE, None)  # only the given values are checked
    assert match_policy(parsed, None, SGX_MR_SIGNER)
    for position in (0, 31, 63):
        assert not match_policy(parsed, _other_hex(SGX_MR_ENCLAVE, position), SGX_MR_SIGNER)
        assert not match_policy(parsed, SGX_MR_ENCLAVE, _other_hex(SGX_MR_SIGNER, position))
    assert not match_policy(parsed, SGX_MR_SIGNER, SGX_MR_ENCLAVE)
    assert not match_policy(parsed, None, None)  # an empty policy never matches
    assert not match_policy(parsed, "", SGX_MR_SIGNER)
    assert not match_policy(parsed, SGX_MR_ENCLAVE[:-2], SGX_MR_SIGNER)
    assert not match_policy(parsed, SGX_MR_ENCLAVE + "00", SGX_MR_SIGNER)
    assert not match_policy(parsed, "z" + SGX_MR_ENCLAVE[1:], SGX_MR_SIGNER)
    assert not match_policy(parsed, "é" + SGX_MR_ENCLAVE[1:], SGX_MR_SIGNER)
    # a TDX measurement in the policy cannot be checked against an SGX quote
    assert not match_policy(parsed, SGX_MR_ENCLAVE, SGX_MR_SIGNER, mr_td="00" * 48)


def test_match_policy_tdx() -> None:
    parsed = parse_quote(TDX_QUOTE)
    assert parsed.mr_td is not None and parsed.rtmrs is not None
    mr_td, rtmrs = parsed.mr_td, parsed.rtmrs
    assert match_policy(parsed, None, None, mr_td=mr_td)
    assert match_policy(parsed, None, None, mr_td=mr_td.upper(), rtmrs={0: rtmrs[0], 2: rtmrs[2].upper()})
    assert match_policy(parsed, None, None, mr_td=mr_td, rtmrs=dict(enumerate(rtmrs)))
    assert not match_policy(parsed, None, None, mr_td=_other_hex(mr_td, 5))
    assert not match_policy(parsed, None, None, mr_td=mr_td, rtmrs={1: _other_hex(rtmrs[1], 95)})
    assert not match_policy(parsed, None, None, mr_td=mr_td, rtmrs={4: rtmrs[0]})
    assert not match_policy(parsed, None, None, rtmrs={0: rtmrs[0]})  # mr_td is required
    # an SGX-only policy never matches a TDX quote
    assert not match_policy(parsed, SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    assert not match_policy(parsed, SGX_MR_ENCLAVE, None, mr_td=mr_td)


# --- offline bundle -----------------------------------------------------------------------------


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    (tmp_path / f"{SGX_FMSPC}.json").write_bytes(SGX_COLLATERAL)
    (tmp_path / f"tdx-{TDX_FMSPC}.json").write_bytes(TDX_COLLATERAL)
    return tmp_path


async def test_offline_bundle_keyed_by_fmspc(bundle_dir: Path) -> None:
    provider = OfflineBundleProvider(bundle_dir)
    sgx = await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)
    tdx = await verify_quote(TDX_QUOTE, provider, T, TcbPolicy())
    assert sgx.ok and sgx.tcb_status == SGX_STATUS
    assert tdx.ok and tdx.tcb_status == "UpToDate"


async def test_offline_bundle_unknown_fmspc(tmp_path: Path) -> None:
    (tmp_path / f"{TDX_FMSPC}.json").write_bytes(TDX_COLLATERAL)
    verdict = await verify_quote(SGX_QUOTE, OfflineBundleProvider(tmp_path), T, PERMISSIVE)
    assert not verdict.ok
    assert verdict.reason == f"no collateral for FMSPC {SGX_FMSPC} in the offline bundle"
    assert verdict.quote is not None


async def test_offline_bundle_override(tmp_path: Path) -> None:
    provider = OfflineBundleProvider(tmp_path)  # empty
    parsed = parse_quote(SGX_QUOTE)
    collateral = await provider.get_collateral(SGX_QUOTE, parsed, collateral_json=SGX_COLLATERAL.decode())
    assert json.loads(collateral.to_json()) == json.loads(SGX_COLLATERAL)
    with pytest.raises(CollateralUnavailable):
        await provider.get_collateral(SGX_QUOTE, parsed)


# --- PCCS provider with a fake HTTP transport (no network) --------------------------------------


class FakePccs:
    """Answers the PCCS v4 endpoints from the vectors' collateral, and records the requests."""

    def __init__(self, *, fail: Callable[[httpx.Request], int | None] = lambda _: None) -> None:
        self.requests: list[httpx.Request] = []
        self.fail = fail
        self.sgx: dict[str, Any] = json.loads(SGX_COLLATERAL)
        self.tdx: dict[str, Any] = json.loads(TDX_COLLATERAL)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.fail(request)
        if status is not None:
            return httpx.Response(status)
        path, query = request.url.path, dict(request.url.params)
        tee = self.sgx if path.startswith("/sgx/") or query.get("ca") == "processor" else self.tdx
        if path == "/sgx/certification/v4/pckcrl":
            assert query["encoding"] == "der"
            tee = self.sgx if query["ca"] == "processor" else self.tdx
            headers = {"SGX-PCK-CRL-Issuer-Chain": urllib.parse.quote(tee["pck_crl_issuer_chain"])}
            return httpx.Response(200, content=bytes.fromhex(tee["pck_crl"]), headers=headers)
        if path.endswith("/certification/v4/tcb"):
            expected_fmspc = SGX_FMSPC if tee is self.sgx else TDX_FMSPC
            if query["fmspc"] != expected_fmspc.upper():
                return httpx.Response(404)
            body = f'{{ "tcbInfo": {tee["tcb_info"]},\n "signature": "{tee["tcb_info_signature"]}" }}'
            headers = {"TCB-Info-Issuer-Chain": urllib.parse.quote(tee["tcb_info_issuer_chain"])}
            return httpx.Response(200, text=body, headers=headers)
        if path.endswith("/certification/v4/qe/identity"):
            body = f'{{"enclaveIdentity":{tee["qe_identity"]},"signature":"{tee["qe_identity_signature"]}"}}'
            headers = {"SGX-Enclave-Identity-Issuer-Chain": urllib.parse.quote(tee["qe_identity_issuer_chain"])}
            return httpx.Response(200, text=body, headers=headers)
        if path == "/sgx/certification/v4/rootcacrl":
            return httpx.Response(200, text=self.sgx["root_ca_crl"])  # PCCS answers hex
        if request.url.host == "certificates.trustedservices.intel.com":
            return httpx.Response(200, content=bytes.fromhex(self.sgx["root_ca_crl"]))
        return httpx.Response(404)

    def paths(self) -> list[str]:
        return [f"{r.url.host}{r.url.path}?{r.url.query.decode()}" for r in self.requests]


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def pccs(fake: FakePccs, cache_dir: Path, max_entries: int = 8, base: str = "https://pccs.test") -> PccsProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return PccsProvider(base, cache_dir, max_entries, client=client)


async def test_pccs_fetches_then_reuses_its_disk_cache(tmp_path: Path) -> None:
    fake = FakePccs()
    provider = pccs(fake, tmp_path, base="https://pccs.test/sgx/certification/v4/")
    verdict = await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)
    assert verdict.ok, verdict.reason
    assert verdict.tcb_status == SGX_STATUS
    assert sorted(fake.paths()) == [
        "pccs.test/sgx/certification/v4/pckcrl?ca=processor&encoding=der",
        "pccs.test/sgx/certification/v4/qe/identity?update=standard",
        "pccs.test/sgx/certification/v4/rootcacrl?",
        f"pccs.test/sgx/certification/v4/tcb?fmspc={SGX_FMSPC.upper()}",
    ]
    assert provider.cache.keys() == [f"sgx-processor-{SGX_FMSPC}"]

    assert (await verify_quote(SGX_QUOTE, provider, T + DAY, PERMISSIVE)).ok
    second = pccs(fake, tmp_path)  # another process sharing the directory
    assert (await verify_quote(SGX_QUOTE, second, T + 2 * DAY, PERMISSIVE)).ok
    assert len(fake.requests) == 4


async def test_pccs_tdx_uses_tdx_endpoints(tmp_path: Path) -> None:
    fake = FakePccs()
    verdict = await verify_quote(TDX_QUOTE, pccs(fake, tmp_path), T, TcbPolicy())
    assert verdict.ok, verdict.reason
    paths = fake.paths()
    assert f"pccs.test/tdx/certification/v4/tcb?fmspc={TDX_FMSPC.upper()}" in paths
    assert "pccs.test/tdx/certification/v4/qe/identity?update=standard" in paths
    assert "pccs.test/sgx/certification/v4/pckcrl?ca=platform&encoding=der" in paths


async def test_pccs_refetches_expired_collateral(tmp_path: Path) -> None:
    fake = FakePccs()
    provider = pccs(fake, tmp_path)
    assert (await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)).ok
    expiry = collateral_expiry(load_collateral(SGX_COLLATERAL))
    assert (await verify_quote(SGX_QUOTE, provider, expiry - 1, PERMISSIVE)).ok
    assert len(fake.requests) == 4  # reused up to its expiry
    late = await verify_quote(SGX_QUOTE, provider, expiry + 1, PERMISSIVE)
    assert len(fake.requests) == 8  # the cached entry was not reused after its expiry
    assert not late.ok  # the PCCS still serves the same (now expired) collateral
    assert (await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)).ok
    assert len(fake.requests) == 8  # the expired refetch did not replace the valid entry


async def test_pccs_cache_is_bounded(tmp_path: Path) -> None:
    fake = FakePccs()
    provider = pccs(fake, tmp_path, max_entries=1)
    assert (await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)).ok
    assert (await verify_quote(TDX_QUOTE, provider, T, PERMISSIVE)).ok
    assert provider.cache.keys() == [f"tdx-platform-{TDX_FMSPC}"]
    assert file_names(tmp_path) == [f"tdx-platform-{TDX_FMSPC}.json"]
    assert (await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)).ok  # evicted: fetched again
    assert len(fake.requests) == 12
    assert provider.cache.keys() == [f"sgx-processor-{SGX_FMSPC}"]


async def test_pccs_unknown_fmspc_and_http_errors_are_verdicts(tmp_path: Path) -> None:
    fake = FakePccs(fail=lambda r: 404 if r.url.path.endswith("/tcb") else None)
    verdict = await verify_quote(SGX_QUOTE, pccs(fake, tmp_path / "a"), T, PERMISSIVE)
    assert not verdict.ok and "HTTP 404" in verdict.reason

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    provider = PccsProvider("https://pccs.test", tmp_path / "b", 4, client=client)
    verdict = await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)
    assert not verdict.ok and "ConnectError" in verdict.reason
    assert file_names(tmp_path / "b") == []  # nothing cached


async def test_pccs_intel_pcs_takes_the_root_crl_from_the_root_certificate(tmp_path: Path) -> None:
    fake = FakePccs()
    provider = pccs(fake, tmp_path, base="https://api.trustedservices.intel.com")
    assert (await verify_quote(SGX_QUOTE, provider, T, PERMISSIVE)).ok
    assert "certificates.trustedservices.intel.com/IntelSGXRootCA.der?" in fake.paths()
    assert not any(p.endswith("rootcacrl?") for p in fake.paths())


async def test_pccs_fetches_nothing_for_a_chain_not_from_intel(tmp_path: Path) -> None:
    from pyehsm.attest.providers import SimulatedSgxProvider
    from pyehsm.attest.simulation import SimulationSigningMaterial

    quote = SimulatedSgxProvider(SimulationSigningMaterial.generate()).generate(bytes(64))
    fake = FakePccs()
    provider = pccs(fake, tmp_path)
    with pytest.raises(CollateralUnavailable):
        await provider.get_collateral(quote, parse_quote(quote), now_secs=T)
    assert fake.requests == []


def test_pccs_requires_an_http_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        PccsProvider("file:///etc", tmp_path)
    with pytest.raises(ValueError, match="max_entries"):
        PccsProvider("https://pccs.test", tmp_path, 0)


# --- robustness: nothing but a Verdict comes out -------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["sgx", "tdx"]),
    st.lists(st.tuples(st.integers(min_value=0, max_value=5005), st.integers(0, 255)), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=5006),
)
async def test_fuzz_verify_never_raises(name: str, edits: list[tuple[int, int]], cut: int) -> None:
    quote, collateral = QUOTES[name]
    data = bytearray(quote[:cut])
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    verdict = await verify_quote(bytes(data), FixedCollateralProvider(collateral), T, PERMISSIVE)
    assert isinstance(verdict, Verdict)
    if bytes(data) != quote[: len(data)] or len(data) < parse_quote(quote).quote_size:
        assert not verdict.ok
