"""Request builders of remote attestation: GenerateQuote, VerifyQuote, quote policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pyehsm.client.errors import ResponseSignatureError
from pyehsm.client.models import (
    Quote,
    QuotePolicy,
    QuoteVerification,
    b64,
)
from pyehsm.client.operations.call import Call, _field, _payload
from pyehsm.protocols.ehsm.signing import signature_matches

T = TypeVar("T")


# -- remote attestation -----------------------------------------------------------------------------
def generate_quote(challenge: bytes) -> Call[Quote]:
    return Call("GenerateQuote", {"challenge": b64(challenge)}, Quote.from_result)


def verify_quote(quote: bytes, nonce: bytes, apikey: str, policy_id: str | None = None) -> Call[QuoteVerification]:
    """The answer's ``sign`` is checked with ``apikey`` and its ``nonce`` must echo ours."""
    sent_nonce = b64(nonce)

    def parse(result: dict[str, Any]) -> QuoteVerification:
        fields: Mapping[str, Any] = {k: v for k, v in result.items() if k != "sign"}
        sign_value = result.get("sign")
        if not isinstance(sign_value, str) or not signature_matches(apikey, fields, sign_value):
            raise ResponseSignatureError(200, "VerifyQuote answer is not signed with this app's apikey")
        if result.get("nonce") != sent_nonce:
            raise ResponseSignatureError(200, "VerifyQuote answer does not echo the nonce sent")
        return QuoteVerification.from_result(result)

    return Call("VerifyQuote", _payload(quote=b64(quote), nonce=sent_nonce, policyId=policy_id), parse)


def upload_quote_policy(mr_enclave: str, mr_signer: str) -> Call[str]:
    return Call("UploadQuotePolicy", {"mr_enclave": mr_enclave, "mr_signer": mr_signer}, _field("policyId"))


def get_quote_policy(policy_id: str) -> Call[QuotePolicy]:
    return Call("GetQuotePolicy", {"policyId": policy_id}, QuotePolicy.from_result)
