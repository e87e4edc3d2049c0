"""Release policies (attest/release_policy.py): strict validation, canonical form, and evaluation on the
real SGX v3 and TDX v4 quotes of tests/vectors, verified as the gate verifies them (the offline collateral
at the collateral's time; AttestationService.verify_for_release's TCB set), plus the tampered quote."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pyehsm.attest.quote import parse_quote
from pyehsm.attest.release_policy import (
    ALLOWED_TCB_STATUSES,
    PolicyError,
    ReleasePolicy,
    default_satisfied,
    parse_policy,
    policy_from_json,
    satisfies,
)
from pyehsm.attest.verify import FixedCollateralProvider, TcbPolicy, Verdict, verify_quote
from tests.vectors import attestation_file

T = 1750332747  # the vectors' collateral is valid then (tests/vectors/attestation/README.md)
SGX_QUOTE, TDX_QUOTE = attestation_file("sgx_quote"), attestation_file("tdx_quote")
SGX_COLLATERAL = attestation_file("sgx_quote_collateral.json")
TDX_COLLATERAL = attestation_file("tdx_quote_collateral.json")
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"
SGX = parse_quote(SGX_QUOTE)
TDX = parse_quote(TDX_QUOTE)
RELEASE_TCB = TcbPolicy(ALLOWED_TCB_STATUSES)  # what AttestationService.verify_for_release uses


def sgx_alternative(**extra: Any) -> dict[str, Any]:
    return {
        "tee": "SGX",
        "mrEnclave": SGX.mr_enclave,
        "mrSigner": SGX.mr_signer,
        "isvProdId": SGX.isv_prod_id,
        "minIsvSvn": SGX.isv_svn,
        **extra,
    }


def tdx_alternative(**extra: Any) -> dict[str, Any]:
    rtmrs = {f"rtmr{i}": value for i, value in enumerate(TDX.rtmrs or ())}
    return {"tee": "TDX", "mrTd": TDX.mr_td, "mrConfigId": TDX.mr_config_id, "mrOwner": TDX.mr_owner, **rtmrs, **extra}


def policy(*alternatives: dict[str, Any]) -> ReleasePolicy:
    return parse_policy(json.dumps({"anyOf": list(alternatives)}))


async def verified(quote: bytes, collateral: bytes) -> Verdict:
    verdict = await verify_quote(quote, FixedCollateralProvider(collateral), T, RELEASE_TCB)
    return verdict


# --- the real quotes ----------------------------------------------------------------------------


async def test_sgx_real_measurements_are_refused_by_the_default_tcb_statuses() -> None:
    verdict = await verified(SGX_QUOTE, SGX_COLLATERAL)
    assert verdict.ok and verdict.tcb_status == SGX_STATUS and verdict.quote is not None
    assert not satisfies(policy(sgx_alternative()), verdict.quote, verdict.tcb_status, simulated=False)
    allowed = policy(sgx_alternative(tcbStatuses=["UpToDate", SGX_STATUS]))
    assert satisfies(allowed, verdict.quote, verdict.tcb_status, simulated=False)
    assert not default_satisfied(verdict.tcb_status, simulated=False)  # a bundle for an ungated key


async def test_tdx_real_measurements_match_up_to_date() -> None:
    verdict = await verified(TDX_QUOTE, TDX_COLLATERAL)
    assert verdict.ok and verdict.tcb_status == "UpToDate" and verdict.quote is not None
    assert satisfies(policy(tdx_alternative()), verdict.quote, "UpToDate", simulated=False)
    assert not satisfies(policy(sgx_alternative()), verdict.quote, "UpToDate", simulated=False)  # another TEE


@pytest.mark.parametrize("field", ["mrTd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrConfigId", "mrOwner"])
async def test_tdx_every_mismatching_field_fails(field: str) -> None:
    verdict = await verified(TDX_QUOTE, TDX_COLLATERAL)
    assert verdict.quote is not None
    wrong = policy(tdx_alternative(**{field: "0f" * 48}))
    assert not satisfies(wrong, verdict.quote, "UpToDate", simulated=False)
    # any-of: the same wrong alternative beside the right one passes
    assert satisfies(policy(tdx_alternative(**{field: "0f" * 48}), tdx_alternative()), verdict.quote, "UpToDate",
                     simulated=False)  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [{"mrEnclave": "0f" * 32}, {"mrSigner": "0f" * 32}, {"isvProdId": 1 + (SGX.isv_prod_id or 0)},
     {"minIsvSvn": 1 + (SGX.isv_svn or 0)}],
)  # fmt: skip
async def test_sgx_every_mismatching_field_fails(change: dict[str, Any]) -> None:
    verdict = await verified(SGX_QUOTE, SGX_COLLATERAL)
    assert verdict.quote is not None
    wrong = policy(sgx_alternative(tcbStatuses=[SGX_STATUS], **change))
    assert not satisfies(wrong, verdict.quote, SGX_STATUS, simulated=False)


@pytest.mark.parametrize(("quote", "collateral"), [(SGX_QUOTE, SGX_COLLATERAL), (TDX_QUOTE, TDX_COLLATERAL)])
async def test_the_tampered_quote_is_refused_before_any_policy(quote: bytes, collateral: bytes) -> None:
    tampered = bytearray(quote)
    tampered[100] ^= 0x01
    verdict = await verified(bytes(tampered), collateral)
    assert not verdict.ok and verdict.reason == "ISV enclave report signature is invalid"


async def test_expired_collateral_is_refused_whatever_the_policy_allows() -> None:
    verdict = await verify_quote(SGX_QUOTE, FixedCollateralProvider(SGX_COLLATERAL), T + 40 * 86_400, RELEASE_TCB)
    assert not verdict.ok and verdict.reason == "TCBInfo expired"


def test_simulated_quotes_skip_the_tcb_statuses_but_not_the_measurements() -> None:
    assert satisfies(policy(sgx_alternative()), SGX, "Simulated", simulated=True)
    assert not satisfies(policy(sgx_alternative(mrEnclave="0f" * 32)), SGX, "Simulated", simulated=True)
    assert default_satisfied("Simulated", simulated=True)


# --- validation ---------------------------------------------------------------------------------


def test_canonical_form_and_id() -> None:
    upper = policy({"tee": "SGX", "mrEnclave": "AB" * 32})
    lower = parse_policy(json.dumps({"anyOf": [{"mrEnclave": "ab" * 32, "tee": "SGX", "tcbStatuses": ["UpToDate"]}]}))
    assert upper == lower and upper.canonical_json() == lower.canonical_json()
    assert json.loads(upper.canonical_json()) == {
        "anyOf": [{"mrEnclave": "ab" * 32, "tcbStatuses": ["UpToDate"], "tee": "SGX"}]
    }
    assert upper.policy_id.startswith("rp-") and len(upper.policy_id) == 19
    assert parse_policy(upper.canonical_json()) == upper
    assert policy({"tee": "SGX", "mrEnclave": "cd" * 32}).policy_id != upper.policy_id


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "must be a JSON object"),
        ({}, "anyOf must be a non-empty array"),
        ({"anyOf": [], "x": 1}, "unknown field 'x'"),
        ({"anyOf": [{"tee": "SEV"}]}, 'tee must be "SGX" or "TDX"'),
        ({"anyOf": [{"tee": "SGX"}]}, "needs mrEnclave or mrSigner"),
        ({"anyOf": [{"tee": "TDX", "rtmr0": "ab" * 48}]}, "needs mrTd"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 31}]}, "64 hex digits"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "zz" * 32}]}, "64 hex digits"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": 5}]}, "must be a string"),
        ({"anyOf": [{"tee": "TDX", "mrTd": "ab" * 47}]}, "96 hex digits"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "isvProdId": True}]}, "integer from 0 to 65535"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "minIsvSvn": 65536}]}, "integer from 0 to 65535"),
        ({"anyOf": [{"tee": "TDX", "mrTd": "ab" * 48, "isvProdId": 1}]}, "unknown field 'isvProdId'"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "rtmr0": "ab" * 48}]}, "unknown field 'rtmr0'"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "tcbStatuses": []}]}, "non-empty array"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "tcbStatuses": ["OutOfDate"]}]}, "cannot be allowed"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32, "tcbStatuses": ["UpToDate", "UpToDate"]}]}, "twice"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": "ab" * 32}] * 17}, "at most 16"),
    ],
)
def test_invalid_policies_name_the_problem(document: object, reason: str) -> None:
    with pytest.raises(PolicyError) as exc:
        policy_from_json(document)
    assert reason in str(exc.value)
    assert "ab" * 8 not in str(exc.value)  # never a value


def test_text_that_is_not_json_or_too_long() -> None:
    for text in ("{", "NaN", '{"anyOf": [NaN]}', "x" * 20000):
        with pytest.raises(PolicyError):
            parse_policy(text)
