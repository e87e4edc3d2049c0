"""Typed results of remote attestation: quotes, verifications, quote policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyehsm.client.models.base import Result, _int, _str, unb64


@dataclass(frozen=True, eq=False)
class Quote(Result):
    """GenerateQuote's answer: the echoed challenge and the quote (both raw bytes; ``raw`` keeps the base64)."""

    challenge: bytes
    quote: bytes = field(repr=False)

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> Quote:
        return cls(unb64(_str(r.get("challenge"))), unb64(_str(r.get("quote"))), raw=r)


@dataclass(frozen=True, eq=False)
class QuoteVerification(Result):
    """VerifyQuote's answer; ``sign`` has already been checked with the app's apikey by the client.

    ``nonce`` is the echoed nonce as raw bytes (``raw["nonce"]`` keeps the base64 the server signed)."""

    valid: bool
    nonce: bytes
    mr_enclave: str = ""
    mr_signer: str = ""
    sign: str = ""

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> QuoteVerification:
        return cls(
            valid=bool(_int(r.get("result"))) or r.get("result") is True,
            nonce=unb64(_str(r.get("nonce"))),
            mr_enclave=_str(r.get("mr_enclave")),
            mr_signer=_str(r.get("mr_signer")),
            sign=_str(r.get("sign")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class QuotePolicy(Result):
    policy_id: str
    mr_enclave: str
    mr_signer: str
    create_time: int = 0

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> QuotePolicy:
        return cls(
            _str(r.get("policyId")),
            _str(r.get("mr_enclave")),
            _str(r.get("mr_signer")),
            _int(r.get("createTime")),
            raw=r,
        )
