"""`pyehsm attest verify`: local DCAP quote verification on Intel's real vectors and on simulated quotes."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pyehsm.attest.providers import SimulatedSgxProvider, report_data_for_challenge
from pyehsm.attest.quote import parse_quote
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.attest.verify import platform_ids
from pyehsm.cli import main
from tests.vectors import attestation_file, vector_path

T = "1750332747"  # the vectors' collateral is valid at this time
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
SGX_MR_ENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
SGX_MR_SIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
SGX = [
    str(vector_path("attestation", "sgx_quote")),
    "--collateral",
    str(vector_path("attestation", "sgx_quote_collateral.json")),
]
TDX = [
    str(vector_path("attestation", "tdx_quote")),
    "--collateral",
    str(vector_path("attestation", "tdx_quote_collateral.json")),
]


def attest(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["attest", "verify", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def attest_json(*args: str) -> tuple[int, dict[str, Any]]:
    code, output = attest(*args, "--json")
    return code, json.loads(output)


def test_sgx_vector_at_its_time_with_its_status_allowed() -> None:
    code, output = attest(*SGX, "--at", T, "--allow-status", SGX_STATUS)
    assert code == 0, output
    assert "verdict: VALID" in output
    assert f"tcb status: {SGX_STATUS}" in output
    assert "advisory ids: INTEL-SA-00289, INTEL-SA-00615" in output
    assert f"mr_enclave: {SGX_MR_ENCLAVE}" in output and f"mr_signer: {SGX_MR_SIGNER}" in output


def test_sgx_vector_default_policy_and_todays_time_fail() -> None:
    code, report = attest_json(*SGX, "--at", T)
    assert code == 1
    assert (report["valid"], report["tcb_status"]) == (False, SGX_STATUS)
    assert report["reason"] == f"TCB status {SGX_STATUS} not accepted by policy"
    for quote in (SGX, TDX):  # no --at: today, and the CRLs have expired
        code, report = attest_json(*quote, "--allow-status", SGX_STATUS)
        assert code == 1 and report["reason"].startswith("CrlExpired"), report["reason"]


def test_tdx_vector_claims() -> None:
    code, report = attest_json(*TDX, "--at", T)
    assert code == 0 and report["valid"] and report["tcb_status"] == "UpToDate"
    parsed = parse_quote(attestation_file("tdx_quote"))
    assert report["claims"]["tee"] == "TDX"
    assert report["claims"]["mr_td"] == parsed.mr_td
    assert [report["claims"][f"rtmr{i}"] for i in range(4)] == list(parsed.rtmrs or ())
    assert report["verified_at"] == int(T)


def test_quote_policy_options() -> None:
    base = [*SGX, "--at", T, "--allow-status", SGX_STATUS]
    code, report = attest_json(*base, "--policy-mr-enclave", SGX_MR_ENCLAVE, "--policy-mr-signer", SGX_MR_SIGNER)
    assert code == 0 and report["policy_matched"] is True
    other = SGX_MR_SIGNER[:-1] + "7"
    code, report = attest_json(*base, "--policy-mr-enclave", SGX_MR_ENCLAVE, "--policy-mr-signer", other)
    assert code == 1 and report["policy_matched"] is False
    assert report["reason"] == "the quote's measurements do not match the policy"

    tdx = parse_quote(attestation_file("tdx_quote"))
    rtmr = f"1={(tdx.rtmrs or ('',) * 4)[1]}"
    code, report = attest_json(*TDX, "--at", T, "--policy-mr-td", tdx.mr_td or "", "--policy-rtmr", rtmr)
    assert code == 0 and report["policy_matched"] is True
    code, _ = attest(*TDX, "--at", T, "--policy-rtmr", "4=" + "00" * 48)
    assert code == 2  # usage error


def test_flipped_byte_and_malformed_files_are_invalid(tmp_path: Path) -> None:
    quote = bytearray(attestation_file("sgx_quote"))
    quote[100] ^= 1
    flipped = tmp_path / "flipped"
    flipped.write_bytes(bytes(quote))
    code, report = attest_json(str(flipped), *SGX[1:], "--at", T, "--allow-status", SGX_STATUS)
    assert code == 1 and report["reason"] == "ISV enclave report signature is invalid"

    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a quote at all")
    code, output = attest(str(garbage), *SGX[1:], "--at", T)
    assert code == 1 and "verdict: INVALID" in output and "malformed quote" in output

    code, report = attest_json(str(vector_path("attestation", "sgx_quote")), "--at", T)
    assert code == 1 and report["reason"].startswith("no collateral given")


def test_base64_quote_file_and_collateral_dir(tmp_path: Path) -> None:
    text = tmp_path / "quote.b64"
    text.write_text(base64.b64encode(attestation_file("tdx_quote")).decode() + "\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / f"{platform_ids(attestation_file('tdx_quote')).fmspc}.json").write_bytes(
        attestation_file("tdx_quote_collateral.json")
    )
    code, report = attest_json(str(text), "--collateral-dir", str(bundle), "--at", T)
    assert code == 0 and report["valid"], report


@pytest.mark.parametrize("trusted", [True, False])
def test_simulated_quote_needs_its_root(tmp_path: Path, trusted: bool) -> None:
    material = SimulationSigningMaterial.generate()
    challenge = b"challenge"
    quote = tmp_path / "quote"
    quote.write_bytes(SimulatedSgxProvider(material).generate(report_data_for_challenge(challenge)))
    root = tmp_path / "root.pem"
    root.write_bytes(material.root_certificate_pem())
    args = [str(quote), *(["--trust-simulated-root", str(root)] if trusted else [])]
    code, report = attest_json(*args)
    assert (code == 0) is trusted
    assert report["simulated"] is trusted
    assert report["claims"]["report_data"] == hashlib.sha512(challenge).hexdigest()


def test_intel_root_is_never_a_simulation_root(tmp_path: Path) -> None:
    chain = parse_quote(attestation_file("sgx_quote")).pck_chain_pem or b""
    intel_root = tmp_path / "intel-root.pem"
    intel_root.write_bytes(x509.load_pem_x509_certificates(chain)[-1].public_bytes(serialization.Encoding.PEM))
    code, output = attest(*SGX, "--at", T, "--trust-simulated-root", str(intel_root))
    assert code == 2 and "Intel SGX Root CA" in output


def test_entry_point() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pyehsm", "attest", "verify", *TDX, "--at", T],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("verdict: VALID\n")
