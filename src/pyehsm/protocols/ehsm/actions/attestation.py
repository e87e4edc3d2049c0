"""Remote attestation actions: GenerateQuote, VerifyQuote, UploadQuotePolicy, GetQuotePolicy (docs/protocol.md 6).

Wire decisions (docs/attestation.md has the full description):

- GenerateQuote binds the challenge into the quote as report_data = SHA-512(base64-decoded challenge), the
  64 bytes of the report data field. Result: ``challenge`` (echoed as sent), ``quote`` (base64) and
  ``simulated`` (extension: true when the server runs the simulated provider; its message says so too).
- VerifyQuote's ``result`` is a JSON boolean, as Intel's server sends it (Python reads it as the int 1/0
  too). ``mr_enclave``/``mr_signer`` come from the policy when one is named, else from the quote ("" for
  TDX). Extension fields: ``tee``, ``tcb_status``, ``advisory_ids``, ``simulated``, ``reason`` (invalid
  only), and for TDX quotes the quote's ``mr_td`` and ``rtmr0``..``rtmr3``.
- ``sign`` = base64 HMAC-SHA256(app's apikey, canonical string (docs/protocol.md section 2) of EVERY other
  result field, extension fields included), so a client can authenticate the whole answer.
- A quote that is not a DCAP quote at all is a 400 (Intel's SDK test expects an error there); a
  well-formed quote that fails verification or the policy is ``result: false`` with a ``reason``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Final

import msgspec

from pyehsm.protocols.ehsm.errors import InternalError, ParamError
from pyehsm.protocols.ehsm.handler import SUCCESS, Caller, Reply
from pyehsm.protocols.ehsm.signing import canonical_string, sign_string
from pyehsm.protocols.ehsm.validation import identifier
from pyehsm.services.attestation import QuoteCheck
from pyehsm.services.container import Services
from pyehsm.store.records import QuotePolicyRecord

MAX_CHALLENGE_CHARS: Final = 4096
MAX_QUOTE_CHARS: Final = 10924
MAX_NONCE_CHARS: Final = 4096

_B64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")

Challenge = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHALLENGE_CHARS)]
QuoteText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUOTE_CHARS)]
Nonce = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NONCE_CHARS)]
PolicyId = Annotated[str, identifier(1, 36)]
OptionalPolicyId = Annotated[str, identifier(max_length=36)]
SgxMeasurement = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-fA-F]{64}\Z")]
TdxMeasurement = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-fA-F]{96}\Z")]


class GenerateQuotePayload(msgspec.Struct):
    challenge: Challenge


class VerifyQuotePayload(msgspec.Struct):
    quote: QuoteText
    nonce: Nonce
    policyId: OptionalPolicyId | None = None


class UploadQuotePolicyPayload(msgspec.Struct):
    """SGX: mr_enclave + mr_signer (the API). TDX (pyehsm extension): mr_td and optionally rtmr0..rtmr3."""

    mr_enclave: SgxMeasurement | None = None
    mr_signer: SgxMeasurement | None = None
    mr_td: TdxMeasurement | None = None
    rtmr0: TdxMeasurement | None = None
    rtmr1: TdxMeasurement | None = None
    rtmr2: TdxMeasurement | None = None
    rtmr3: TdxMeasurement | None = None


class GetQuotePolicyPayload(msgspec.Struct):
    policyId: PolicyId


def b64decode_field(name: str, text: str) -> bytes:
    """Strict standard base64 (length a multiple of 4, padding only at the end) or docs/protocol.md's error."""
    if len(text) % 4 or not _B64.fullmatch(text):
        raise ParamError(f"Parameter invalid, The {name} not a valid base64 string.")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ParamError(f"Parameter invalid, The {name} not a valid base64 string.") from None


async def generate_quote(svc: Services, caller: Caller, p: GenerateQuotePayload) -> Reply:
    generated = await svc.attestation.generate_quote(b64decode_field("challenge", p.challenge))
    result = {
        "challenge": p.challenge,
        "quote": base64.b64encode(generated.quote).decode("ascii"),
        "simulated": generated.simulated,
    }
    message = SUCCESS
    if generated.simulated:
        message = "GenerateQuote success, but the quote is SIMULATED: no TEE produced it (development use only)."
    return Reply(result, message=message)


def verification_result(check: QuoteCheck, nonce: str) -> dict[str, Any]:
    """VerifyQuote's result fields, all but ``sign``."""
    quote, verdict, policy = check.quote, check.verdict, check.policy
    source = policy if policy is not None else quote
    result: dict[str, Any] = {
        "result": check.valid,
        "nonce": nonce,
        "mr_enclave": source.mr_enclave or "",
        "mr_signer": source.mr_signer or "",
        "tee": quote.tee,
        "tcb_status": verdict.tcb_status,
        "advisory_ids": list(verdict.advisory_ids),
        "simulated": verdict.simulated,
    }
    if not check.valid:
        result["reason"] = check.reason
    if quote.tee == "TDX":
        result["mr_td"] = quote.mr_td
        for index, value in enumerate(quote.rtmrs or ()):
            result[f"rtmr{index}"] = value
    return result


async def verify_quote(svc: Services, caller: Caller, p: VerifyQuotePayload) -> Reply:
    quote = b64decode_field("quote", p.quote)
    b64decode_field("nonce", p.nonce)
    check = await svc.attestation.verify_quote(caller.appid, quote, p.policyId or None)
    result = verification_result(check, p.nonce)
    apikey = await svc.apps.apikey(caller.appid)
    if apikey is None:  # the request was just authenticated with this app's apikey
        raise InternalError()
    result["sign"] = sign_string(apikey, canonical_string(result))
    return Reply(result)


def policy_result(policy: QuotePolicyRecord) -> dict[str, Any]:
    result: dict[str, Any] = {
        "policyId": policy.policy_id,
        "mr_enclave": policy.mr_enclave or "",
        "mr_signer": policy.mr_signer or "",
        "createTime": policy.created_ms,
    }
    if policy.mr_td is not None:
        result["mr_td"] = policy.mr_td
        for index, value in enumerate(policy.rtmrs):
            if value is not None:
                result[f"rtmr{index}"] = value
    return result


async def upload_quote_policy(svc: Services, caller: Caller, p: UploadQuotePolicyPayload) -> Reply:
    policy = await svc.attestation.upload_policy(
        caller.appid,
        mr_enclave=p.mr_enclave,
        mr_signer=p.mr_signer,
        mr_td=p.mr_td,
        rtmrs=(p.rtmr0, p.rtmr1, p.rtmr2, p.rtmr3),
    )
    return Reply({"policyId": policy.policy_id}, message="Upload quote policy success.")


async def get_quote_policy(svc: Services, caller: Caller, p: GetQuotePolicyPayload) -> Reply:
    policy = await svc.attestation.get_policy(caller.appid, p.policyId)
    return Reply(policy_result(policy), message="Query quote policy success.")
