"""Remote attestation over real HTTP: VerifyQuote on Intel's real SGX/TDX vectors (collateral from an offline
bundle, server clock injected), quote policies per app, and GenerateQuote -> VerifyQuote with the simulated
provider (trusted only when configured)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from pyehsm.attest.providers import SIMULATED_MR_ENCLAVE, SIMULATED_MR_SIGNER
from pyehsm.attest.quote import parse_quote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import platform_ids
from pyehsm.client import Client, NotFoundError, ParamError
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.protocols.ehsm.signing import canonical_string, sign_string
from tests.support.server import InProcessServer, ServerProcess, in_process_server
from tests.unit.test_attest_malformed import invalid_version_quote
from tests.vectors import attestation_file

T = 1750332747  # 2025-06-19: the vectors' collateral is valid at this time (vectors README)
SGX_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SGX_MR_SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
SGX_ADVISORIES = ["INTEL-SA-00289", "INTEL-SA-00615"]

SGX_QUOTE = attestation_file("sgx_quote")
TDX_QUOTE = attestation_file("tdx_quote")
QUOTES = {"sgx": SGX_QUOTE, "tdx": TDX_QUOTE}
COLLATERAL = {
    "sgx": attestation_file("sgx_quote_collateral.json"),
    "tdx": attestation_file("tdx_quote_collateral.json"),
}
TDX_PARSED = parse_quote(TDX_QUOTE)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def fresh_nonce() -> bytes:
    return os.urandom(16)


def verify_raw(client: Client, quote: bytes, policy_id: str | None = None, nonce: str | None = None) -> Any:
    payload = {"quote": b64(quote), "nonce": nonce or b64(fresh_nonce())}
    if policy_id is not None:
        payload["policyId"] = policy_id
    return client.request("VerifyQuote", payload)


# --- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collateral_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An offline bundle as the server reads it: one <fmspc>.json per platform (a runtime config dir)."""
    bundle = tmp_path_factory.mktemp("collateral")
    for name, quote in QUOTES.items():
        (bundle / f"{platform_ids(quote).fmspc}.json").write_bytes(COLLATERAL[name])
    return bundle


@pytest.fixture(scope="module")
def vector_clock() -> ManualClock:
    return ManualClock(T * 1000)


class TickingClock:
    """The vectors' clock as a client reads it: every read is 1 ms later, so two identical requests are never
    replays of each other. The server reads the same ManualClock (it stays within T's second or so)."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        self._clock.advance(ms=1)
        return self._clock.now_ms()


def _serve(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock, **options: Any) -> Iterator[InProcessServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("attest") / "data", pool_depth={}, **options)
    with in_process_server(settings, clock) as srv:
        yield srv


@pytest.fixture(scope="module")
def permissive(
    tmp_path_factory: pytest.TempPathFactory, vector_clock: ManualClock, collateral_dir: Path
) -> Iterator[InProcessServer]:
    """Collateral bundle, SGX vector's status allowed, no quote provider."""
    yield from _serve(
        tmp_path_factory,
        vector_clock,
        collateral_dir=str(collateral_dir),
        tcb_allow=(SGX_STATUS,),
        quote_provider="none",
    )


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, vector_clock: ManualClock, collateral_dir: Path
) -> Iterator[InProcessServer]:
    """Collateral bundle, default TCB policy (UpToDate only)."""
    yield from _serve(tmp_path_factory, vector_clock, collateral_dir=str(collateral_dir), quote_provider="none")


@pytest.fixture
def app(permissive: InProcessServer, vector_clock: ManualClock) -> Iterator[Client]:
    with Client.enroll(permissive.base, clock=TickingClock(vector_clock)) as c:
        yield c


@pytest.fixture
def other_app(permissive: InProcessServer, vector_clock: ManualClock) -> Iterator[Client]:
    with Client.enroll(permissive.base, clock=TickingClock(vector_clock)) as c:
        yield c


# --- VerifyQuote on the real vectors ------------------------------------------------------------


def test_sgx_vector_verifies_when_its_tcb_status_is_allowed(app: Client) -> None:
    nonce = fresh_nonce()
    verified = app.verify_quote(SGX_QUOTE, nonce)  # the client checks sign and nonce echo itself
    assert verified.valid
    assert verified["result"] is True
    assert verified.nonce == nonce and verified["nonce"] == b64(nonce)
    assert (verified.mr_enclave, verified.mr_signer) == (SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    assert verified["tee"] == "SGX"
    assert verified["tcb_status"] == SGX_STATUS
    assert verified["advisory_ids"] == SGX_ADVISORIES
    assert verified["simulated"] is False
    assert "reason" not in verified


def test_tdx_vector_verifies_with_its_measurements(app: Client) -> None:
    verified = app.verify_quote(TDX_QUOTE, fresh_nonce())
    assert verified.valid
    assert (verified["tee"], verified["tcb_status"], verified["advisory_ids"]) == ("TDX", "UpToDate", [])
    assert (verified.mr_enclave, verified.mr_signer) == ("", "")
    assert verified["mr_td"] == TDX_PARSED.mr_td
    assert [verified[f"rtmr{i}"] for i in range(4)] == list(TDX_PARSED.rtmrs or ())


def test_default_tcb_policy_rejects_the_sgx_status_but_reports_it(
    strict: InProcessServer, vector_clock: ManualClock
) -> None:
    with Client.enroll(strict.base, clock=TickingClock(vector_clock)) as c:
        sgx = c.verify_quote(SGX_QUOTE, fresh_nonce())
        assert not sgx.valid and sgx["result"] is False
        assert sgx["tcb_status"] == SGX_STATUS and sgx["advisory_ids"] == SGX_ADVISORIES
        assert sgx["reason"] == f"TCB status {SGX_STATUS} not accepted by policy"
        assert c.verify_quote(TDX_QUOTE, fresh_nonce()).valid  # UpToDate is accepted by default


def test_sign_covers_every_result_field(app: Client, other_app: Client) -> None:
    nonce = b64(fresh_nonce())
    answer = verify_raw(app, TDX_QUOTE, nonce=nonce)
    assert answer.code == 200
    result = dict(answer.result)
    sign = result.pop("sign")
    # The canonical string written out by hand: sorted, values as text, false / [] / "" dropped.
    rtmrs = "".join(f"&rtmr{i}={v}" for i, v in enumerate(TDX_PARSED.rtmrs or ()))
    expected = f"mr_td={TDX_PARSED.mr_td}&nonce={nonce}&result=true{rtmrs}&tcb_status=UpToDate&tee=TDX"
    assert canonical_string(result) == expected
    mac = hmac.new(app.apikey.encode(), expected.encode(), hashlib.sha256).digest()
    assert sign == base64.b64encode(mac).decode()
    assert sign != sign_string(other_app.apikey, expected)
    # extension fields are inside the signed set: changing one changes the sign
    assert sign_string(app.apikey, canonical_string({**result, "tcb_status": "OutOfDate"})) != sign

    for quote in (SGX_QUOTE, flip(SGX_QUOTE, 100)):  # lists (advisory_ids) and invalid answers (reason) too
        other = verify_raw(app, quote).result
        other_sign = other.pop("sign")
        assert other["advisory_ids"] == SGX_ADVISORIES or other["reason"] == "ISV enclave report signature is invalid"
        assert other_sign == sign_string(app.apikey, canonical_string(other))


@pytest.mark.parametrize("name", ["sgx", "tdx"])
def test_any_flipped_byte_fails(app: Client, name: str) -> None:
    quote = QUOTES[name]
    outcomes = set()
    for offset in (*range(0, len(quote), 89), 100, len(quote) - 1):
        answer = verify_raw(app, flip(quote, offset))
        if answer.code == 200:
            assert answer.result["result"] is False, offset
            assert answer.result["reason"], offset
            outcomes.add("false")
        else:  # the flip broke the quote's structure (version, key type, TEE type, a length field)
            assert answer.code == 400, offset
            assert answer.message.startswith("Parameter invalid, The quote format wrong: "), offset
            outcomes.add("error")
    assert outcomes == {"false", "error"}


@pytest.mark.parametrize("name", ["sgx", "tdx"])
def test_certificate_with_an_invalid_version_is_a_false_result_not_a_500(app: Client, name: str) -> None:
    answer = verify_raw(app, invalid_version_quote(QUOTES[name]))
    assert answer.code == 200, answer.message
    assert answer.result["result"] is False
    assert answer.result["reason"] == "the quote's certificate chain cannot be parsed"
    assert answer.result["sign"] == sign_string(app.apikey, canonical_string({**answer.result, "sign": ""}))


def test_quote_input_errors(app: Client) -> None:
    nonce = b64(b"nonce")
    cases = {
        "Parameter invalid, The quote not a valid base64 string.": {"quote": "not base64!", "nonce": nonce},
        "Parameter invalid, The quote length error.": {"quote": "A" * 10928, "nonce": nonce},
        "Missing required parameters, The nonce cannot be empty.": {"quote": b64(SGX_QUOTE)},
        "Parameter invalid, The nonce not a valid base64 string.": {"quote": b64(SGX_QUOTE), "nonce": "n%"},
        "Parameter invalid, The quote format wrong: truncated quote: header version needs 2 bytes at offset 0, "
        "1 left.": {"quote": b64(b"\x03"), "nonce": nonce},
    }
    for message, payload in cases.items():
        answer = app.request("VerifyQuote", payload)
        assert (answer.code, answer.message) == (400, message)
    # Intel's SDK test sends base64(base64(quote)) with one character changed and expects an error
    double = b64((b64(SGX_QUOTE)[:-1] + "x").encode())
    with pytest.raises(ParamError, match="The quote format wrong: unsupported quote version"):
        app.call("VerifyQuote", {"quote": double, "nonce": nonce})


# --- quote policies -----------------------------------------------------------------------------


def test_quote_policy_with_the_right_measurements_passes(app: Client, vector_clock: ManualClock) -> None:
    policy_id = app.upload_quote_policy(SGX_MR_ENCLAVE.upper(), SGX_MR_SIGNER)
    stored = app.get_quote_policy(policy_id)
    assert (stored.policy_id, stored.mr_enclave, stored.mr_signer) == (policy_id, SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    assert T * 1000 < stored.create_time < vector_clock.now_ms()
    answer = app.request("GetQuotePolicy", {"policyId": policy_id})
    assert answer.message == "Query quote policy success."

    verified = app.verify_quote(SGX_QUOTE, fresh_nonce(), policy_id)
    assert verified.valid
    assert (verified.mr_enclave, verified.mr_signer) == (SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    # an SGX policy never matches a TDX quote
    tdx = app.verify_quote(TDX_QUOTE, fresh_nonce(), policy_id)
    assert not tdx.valid and tdx["reason"] == f"the quote's measurements do not match quote policy {policy_id}"


@pytest.mark.parametrize("which", ["mr_enclave", "mr_signer"])
def test_quote_policy_with_any_other_measurement_fails(app: Client, which: str) -> None:
    values = {"mr_enclave": SGX_MR_ENCLAVE, "mr_signer": SGX_MR_SIGNER}
    values[which] = values[which][:-1] + ("0" if values[which][-1] != "0" else "1")
    policy_id = app.upload_quote_policy(values["mr_enclave"], values["mr_signer"])
    verified = app.verify_quote(SGX_QUOTE, fresh_nonce(), policy_id)
    assert not verified.valid
    assert verified["reason"] == f"the quote's measurements do not match quote policy {policy_id}"
    # the answer names the policy's measurements (as Intel's server does), not the quote's
    assert (verified.mr_enclave, verified.mr_signer) == (values["mr_enclave"], values["mr_signer"])
    assert verified["tcb_status"] == SGX_STATUS  # the quote itself verified


def test_tdx_quote_policy_extension(app: Client) -> None:
    rtmrs = TDX_PARSED.rtmrs or ()
    full = {"mr_td": TDX_PARSED.mr_td, **{f"rtmr{i}": v for i, v in enumerate(rtmrs)}}
    policy_id = app.call("UploadQuotePolicy", full)["policyId"]
    stored = app.call("GetQuotePolicy", {"policyId": policy_id})
    assert {k: stored[k] for k in full} == full and (stored["mr_enclave"], stored["mr_signer"]) == ("", "")
    assert app.verify_quote(TDX_QUOTE, fresh_nonce(), policy_id).valid
    assert not app.verify_quote(SGX_QUOTE, fresh_nonce(), policy_id).valid

    only_td = app.call("UploadQuotePolicy", {"mr_td": TDX_PARSED.mr_td})["policyId"]
    assert app.verify_quote(TDX_QUOTE, fresh_nonce(), only_td).valid
    wrong_rtmr = app.call("UploadQuotePolicy", {**full, "rtmr2": "ab" * 48})["policyId"]
    assert not app.verify_quote(TDX_QUOTE, fresh_nonce(), wrong_rtmr).valid


def test_upload_quote_policy_validation(app: Client) -> None:
    hex64 = "ab" * 32
    cases = {
        "Missing required parameters, The mr_enclave cannot be empty.": {"mr_signer": hex64},
        "Missing required parameters, The mr_signer cannot be empty.": {"mr_enclave": hex64},
        "Parameter invalid, The mr_enclave format wrong.": {"mr_enclave": hex64[:-1], "mr_signer": hex64},
        "Parameter invalid, The mr_signer format wrong.": {"mr_enclave": hex64, "mr_signer": "zz" * 32},
        "Missing required parameters, The mr_td cannot be empty.": {"rtmr0": "ab" * 48},
        "Parameter invalid, A quote policy names either mr_enclave and mr_signer (SGX) or mr_td and rtmr0..rtmr3 "
        "(TDX), not both.": {"mr_enclave": hex64, "mr_signer": hex64, "mr_td": "ab" * 48},
    }
    for message, payload in cases.items():
        answer = app.request("UploadQuotePolicy", payload)
        assert (answer.code, answer.message) == (400, message)
    answer = app.request("UploadQuotePolicy", {"mr_enclave": hex64, "mr_signer": hex64})
    assert (answer.code, answer.message) == (200, "Upload quote policy success.")


def test_foreign_or_unknown_policy_is_invalid(app: Client, other_app: Client) -> None:
    foreign = other_app.upload_quote_policy(SGX_MR_ENCLAVE, SGX_MR_SIGNER)
    for policy_id in (foreign, "7b0a1e5c-1f57-4b0e-9e55-4d2a4b8b9c01", "not-a-uuid"):
        for action, payload in (
            ("GetQuotePolicy", {"policyId": policy_id}),
            ("VerifyQuote", {"quote": b64(SGX_QUOTE), "nonce": b64(fresh_nonce()), "policyId": policy_id}),
        ):
            answer = app.request(action, payload)
            assert (answer.code, answer.message, answer.result) == (400, "Invalid policyId.", {})
    with pytest.raises(NotFoundError):
        app.get_quote_policy(foreign)
    assert other_app.verify_quote(SGX_QUOTE, fresh_nonce(), foreign).valid  # its owner can use it


def test_generate_quote_without_a_provider_is_a_clear_error(app: Client) -> None:
    answer = app.request("GenerateQuote", {"challenge": b64(b"challenge")})
    assert answer.code == 400
    assert answer.message.startswith("GenerateQuote is unavailable: this server has no quote provider")


# --- simulated provider -------------------------------------------------------------------------


def test_simulated_quotes_round_trip_only_with_the_root_trusted(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pyehsm.attestation")
    data = tmp_path / "data"
    settings = Settings(data_dir=data, pool_depth={}, quote_provider="simulated")
    challenge = os.urandom(200)
    with in_process_server(settings, clock) as srv, Client.enroll(srv.base, clock=clock) as c:
        answer = c.request("GenerateQuote", {"challenge": b64(challenge)})
        assert answer.code == 200 and "SIMULATED" in answer.message
        assert answer.result["simulated"] is True and answer.result["challenge"] == b64(challenge)
        quote = base64.b64decode(answer.result["quote"])
        parsed = parse_quote(quote)
        assert (parsed.tee, parsed.version) == ("SGX", 3)
        assert parsed.report_data == hashlib.sha512(challenge).hexdigest()  # report data = SHA-512(challenge)

        untrusted = c.verify_quote(quote, fresh_nonce())
        assert not untrusted.valid and "trusted simulation root" in untrusted["reason"]
        # no collateral source configured: a genuine quote cannot be verified either
        no_collateral = c.verify_quote(SGX_QUOTE, fresh_nonce())
        assert not no_collateral.valid and no_collateral["reason"].startswith("no collateral for this quote")
    assert any("SIMULATED quote provider" in r.getMessage() for r in caplog.records)

    material = data / "simulated-quote-signing.pem"
    assert stat.S_IMODE(material.stat().st_mode) == 0o600
    root = data / "simulated-quote-root.pem"
    trusted = replace(settings, trust_simulated_roots=(str(root),))
    with in_process_server(trusted, clock) as srv, Client.enroll(srv.base, clock=clock) as c:
        before_restart = c.verify_quote(quote, fresh_nonce())  # same signing chain after the restart
        assert before_restart.valid
        assert (before_restart["simulated"], before_restart["tcb_status"]) == (True, "Simulated")
        assert (before_restart.mr_enclave, before_restart.mr_signer) == (
            SIMULATED_MR_ENCLAVE.hex(),
            SIMULATED_MR_SIGNER.hex(),
        )
        fresh = c.generate_quote(b"another challenge").quote
        assert c.verify_quote(fresh, fresh_nonce()).valid
        policy_id = c.upload_quote_policy(SIMULATED_MR_ENCLAVE.hex(), SIMULATED_MR_SIGNER.hex())
        assert c.verify_quote(fresh, fresh_nonce(), policy_id).valid
        for offset in (10, 100, 400, 700, 1200, len(fresh) - 30):
            assert not c.verify_quote(flip(fresh, offset), fresh_nonce()).valid, offset


def test_serve_options_and_todays_clock(tmp_path: Path, collateral_dir: Path) -> None:
    """`pyehsm serve` with the attestation options, the real clock and pre-provisioned simulation material."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    material = SimulationSigningMaterial.generate()
    fd = os.open(data / "simulated-quote-signing.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(material.to_pem())
    root = tmp_path / "root.pem"
    root.write_bytes(material.root_certificate_pem())
    server = ServerProcess(
        data,
        "--collateral-dir",
        str(collateral_dir),
        "--tcb-allow",
        SGX_STATUS,
        "--quote-provider",
        "simulated",
        "--trust-simulated-root",
        str(root),
    ).start()
    try:
        with server.client() as c:
            for quote in QUOTES.values():  # today the vectors' CRLs have expired
                verified = c.verify_quote(quote, fresh_nonce())
                assert not verified.valid and verified["reason"].startswith("CrlExpired"), verified["reason"]
            generated = c.generate_quote(b"challenge")
            assert generated["simulated"] is True
            chain = parse_quote(generated.quote).pck_chain_pem or b""
            assert x509.load_pem_x509_certificates(chain)[-1] == material.root_certificate  # the persisted chain
            assert c.verify_quote(generated.quote, fresh_nonce()).valid
        assert "SIMULATED quote provider" in server.log()
    finally:
        server.stop()
