"""Release policies (docs/key-release.md): which attested workloads a key or secret is released to.

A policy is a JSON document ``{"anyOf": [alternative, ...]}``; a verified quote satisfies it when it
satisfies every condition of at least one alternative. An alternative names its TEE and the measurements
the quote must carry:

- SGX: ``mrEnclave``, ``mrSigner`` (32 bytes, hex; at least one), ``isvProdId``, ``minIsvSvn`` (0..65535);
- TDX: ``mrTd`` (required), ``rtmr0``..``rtmr3``, ``mrConfigId``, ``mrOwner`` (48 bytes, hex);
- both: ``tcbStatuses``, the TCB statuses the quote's verification may end with (default ``["UpToDate"]``;
  OutOfDate and Revoked can never be allowed).

``parse_policy`` validates strictly (unknown fields, another TEE's fields, wrong hex lengths, wrong types
are refused with the reason) and returns the policy in canonical form: lower-case hex, sorted statuses,
the default filled in. ``canonical_json`` is what the store keeps and ``policy_id`` names it in answers
and errors. Pure, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from pyehsm.attest.quote import ParsedQuote

MAX_POLICY_CHARS: Final = 16384
MAX_ALTERNATIVES: Final = 16
DEFAULT_TCB_STATUSES: Final = ("UpToDate",)
# What a release policy may allow: the statuses a verifying quote can end with short of OutOfDate/Revoked
# (the same set --tcb-allow offers VerifyQuote).
ALLOWED_TCB_STATUSES: Final = frozenset(
    {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)

Tee = Literal["SGX", "TDX"]
_SGX_HEX: Final = ("mrEnclave", "mrSigner")
_SGX_INT: Final = ("isvProdId", "minIsvSvn")
_TDX_HEX: Final = ("mrTd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrConfigId", "mrOwner")
_HEX_SIZE: Final = {"SGX": 32, "TDX": 48}
# policy field -> the ParsedQuote attribute it is compared with
_QUOTE_FIELD: Final = {
    "mrEnclave": "mr_enclave",
    "mrSigner": "mr_signer",
    "mrTd": "mr_td",
    "rtmr0": "rtmr0",
    "rtmr1": "rtmr1",
    "rtmr2": "rtmr2",
    "rtmr3": "rtmr3",
    "mrConfigId": "mr_config_id",
    "mrOwner": "mr_owner",
}


class PolicyError(ValueError):
    """The policy document is not a valid release policy; the message says where and why (no data)."""


@dataclass(frozen=True, slots=True)
class Alternative:
    """One all-of branch: hex measurements (lower case), integer conditions and the allowed TCB statuses."""

    tee: Tee
    measurements: tuple[tuple[str, str], ...]  # (policy field, lower-case hex), sorted by field
    isv_prod_id: int | None
    min_isv_svn: int | None
    tcb_statuses: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tee": self.tee, **dict(self.measurements)}
        if self.isv_prod_id is not None:
            out["isvProdId"] = self.isv_prod_id
        if self.min_isv_svn is not None:
            out["minIsvSvn"] = self.min_isv_svn
        out["tcbStatuses"] = list(self.tcb_statuses)
        return out


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    alternatives: tuple[Alternative, ...]

    def as_json(self) -> dict[str, Any]:
        return {"anyOf": [alt.as_json() for alt in self.alternatives]}

    def canonical_json(self) -> str:
        """The stored form: sorted keys, no spaces. Two policies that mean the same have the same text."""
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))

    @property
    def policy_id(self) -> str:
        return policy_id(self.canonical_json())


def policy_id(canonical: str) -> str:
    """The name of a stored policy in answers and errors: ``rp-`` and 16 hex digits of its SHA-256."""
    return "rp-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --- parsing ------------------------------------------------------------------------------------


def parse_policy(text: str) -> ReleasePolicy:
    """The policy in ``text`` (a JSON document), validated; PolicyError naming the first problem."""
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(f"the policy is longer than {MAX_POLICY_CHARS} characters")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise PolicyError("the policy is not a JSON document") from None
    return policy_from_json(document)


def _no_constant(name: str) -> None:
    raise ValueError(name)  # NaN, Infinity: not JSON


def policy_from_json(document: object) -> ReleasePolicy:
    if not isinstance(document, dict):
        raise PolicyError("the policy must be a JSON object")
    _only(document, {"anyOf"}, "the policy")
    alternatives = document.get("anyOf")
    if not isinstance(alternatives, list) or not alternatives:
        raise PolicyError("anyOf must be a non-empty array of alternatives")
    if len(alternatives) > MAX_ALTERNATIVES:
        raise PolicyError(f"anyOf holds at most {MAX_ALTERNATIVES} alternatives")
    return ReleasePolicy(tuple(_alternative(item, f"anyOf[{index}]") for index, item in enumerate(alternatives)))


def _only(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(name) for name in obj if name not in allowed)
    if unknown:
        raise PolicyError(f"{where}: unknown field {unknown[0]!r}")


def _alternative(item: object, where: str) -> Alternative:
    if not isinstance(item, dict):
        raise PolicyError(f"{where} must be a JSON object")
    tee = item.get("tee")
    if tee not in ("SGX", "TDX"):
        raise PolicyError(f'{where}.tee must be "SGX" or "TDX"')
    hex_fields = _SGX_HEX if tee == "SGX" else _TDX_HEX
    int_fields = _SGX_INT if tee == "SGX" else ()
    _only(item, {"tee", "tcbStatuses", *hex_fields, *int_fields}, f"{where} ({tee})")
    measurements = tuple(
        sorted((name, _hex(item[name], _HEX_SIZE[tee], f"{where}.{name}")) for name in hex_fields if name in item)
    )
    names = {name for name, _ in measurements}
    if tee == "SGX" and not names & {"mrEnclave", "mrSigner"}:
        raise PolicyError(f"{where}: an SGX alternative needs mrEnclave or mrSigner")
    if tee == "TDX" and "mrTd" not in names:
        raise PolicyError(f"{where}: a TDX alternative needs mrTd")
    return Alternative(
        tee=tee,
        measurements=measurements,
        isv_prod_id=_u16(item.get("isvProdId"), f"{where}.isvProdId"),
        min_isv_svn=_u16(item.get("minIsvSvn"), f"{where}.minIsvSvn"),
        tcb_statuses=_statuses(item.get("tcbStatuses", list(DEFAULT_TCB_STATUSES)), f"{where}.tcbStatuses"),
    )


def _hex(value: object, size: int, where: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{where} must be a string of {2 * size} hex digits")
    if len(value) != 2 * size or not all(c in "0123456789abcdefABCDEF" for c in value):
        raise PolicyError(f"{where} must be {2 * size} hex digits ({size} bytes)")
    return value.lower()


def _u16(value: object, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise PolicyError(f"{where} must be an integer from 0 to 65535")
    return value


def _statuses(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"{where} must be a non-empty array")
    for status in value:
        if status not in ALLOWED_TCB_STATUSES:
            allowed = ", ".join(sorted(ALLOWED_TCB_STATUSES))
            raise PolicyError(f"{where}: {status!r} cannot be allowed (allowed: {allowed})")
    if len(set(value)) != len(value):
        raise PolicyError(f"{where} names a status twice")
    return tuple(sorted(value))


# --- evaluation ---------------------------------------------------------------------------------


def satisfies(policy: ReleasePolicy, quote: ParsedQuote, tcb_status: str, *, simulated: bool) -> bool:
    """Whether a verified quote satisfies ``policy`` (some alternative, all its conditions).

    ``tcb_status`` is the verification's status; a simulated quote (its root explicitly trusted by the
    operator) has no TCB, so its alternatives' TCB statuses do not apply, as with VerifyQuote. Every
    alternative is evaluated in full (no early exit on the first mismatching field).
    """
    matched = False
    for alternative in policy.alternatives:
        matched |= _satisfies(alternative, quote, tcb_status, simulated=simulated)
    return matched


def default_satisfied(tcb_status: str, *, simulated: bool) -> bool:
    """What a bundle sent for a key or secret without a policy must show: a genuine UpToDate (or trusted
    simulated) quote; any measurements."""
    return simulated or tcb_status in DEFAULT_TCB_STATUSES


def _satisfies(alt: Alternative, quote: ParsedQuote, tcb_status: str, *, simulated: bool) -> bool:
    ok = quote.tee == alt.tee
    ok &= simulated or tcb_status in alt.tcb_statuses
    for name, expected in alt.measurements:
        actual = getattr(quote, _QUOTE_FIELD[name])
        ok &= isinstance(actual, str) and hmac.compare_digest(expected.encode(), actual.lower().encode())
    if alt.isv_prod_id is not None:
        ok &= quote.isv_prod_id == alt.isv_prod_id
    if alt.min_isv_svn is not None:
        ok &= quote.isv_svn is not None and quote.isv_svn >= alt.min_isv_svn
    return ok
