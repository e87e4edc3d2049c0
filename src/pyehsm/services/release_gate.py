"""The key-release gate (docs/key-release.md): challenges, and the check of an attestation bundle.

- ``challenge``: 32 random bytes, stored in the store's ``attestation_nonces`` table for the app until
  now + 5 minutes (the service clock), so every node on one database accepts it; an app holds at most
  ``MAX_OPEN_CHALLENGES`` unspent ones.
- ``check``: the bundle's recipient key must be a canonical DER SubjectPublicKeyInfo pyehsm can seal to;
  its nonce is spent (atomically, once, whatever follows); its quote must verify as VerifyQuote's do
  (offline collateral bundle, then PCCS; trusted simulated roots) and carry the report data
  SHA-512(nonce || recipient key DER); then every release policy named must be satisfied. The answer is a
  :class:`ReleaseGrant` for exactly those (subject, policy) pairs.

Refusals name the policy that was not met (its ``rp-...`` id), never the condition.
"""

from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pyehsm.attest.release_policy import PolicyError, ReleasePolicy, default_satisfied, parse_policy, satisfies
from pyehsm.clock import Clock
from pyehsm.crypto.recipient import RecipientKeyError, load_recipient_key, release_report_data
from pyehsm.errors import (
    AttestationNonceInvalid,
    AttestationRejected,
    InternalFailure,
    MalformedParameter,
    ReleasePolicyNotMet,
    ReleaseSubject,
    TooManyChallenges,
)
from pyehsm.services.attestation import AttestationService
from pyehsm.services.release_grant import ReleaseGrant
from pyehsm.store.base import Store

NONCE_BYTES: Final = 32
CHALLENGE_TTL_MS: Final = 5 * 60_000
MAX_OPEN_CHALLENGES: Final = 1024
DEFAULT_POLICY_ID: Final = "default"  # a bundle for a key or secret without a policy: UpToDate TCB, any workload
BINDING_MISMATCH: Final = "the quote's report data is not SHA-512(nonce || recipientPublicKey)"
MAX_REASON_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class AttestationBundle:
    """What a gated request carries: a quote, the challenge nonce it answers, the recipient public key."""

    quote: bytes
    nonce: bytes
    recipient_public_key: bytes

    def __repr__(self) -> str:
        return f"<AttestationBundle quote={len(self.quote)} bytes>"


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: bytes
    expires_ms: int


@dataclass(frozen=True, slots=True)
class Subject:
    """A key or secret whose policy (canonical JSON, or None) the bundle must satisfy."""

    kind: ReleaseSubject
    ident: str  # keyid or secret id: what the grant names
    name: str  # what a refusal names: the keyid or the secret's name
    policy: str | None


@functools.lru_cache(maxsize=1024)
def stored_policy(canonical: str) -> ReleasePolicy:
    """A stored (already validated) policy, parsed once per process."""
    try:
        return parse_policy(canonical)
    except PolicyError:  # pragma: no cover - the store only holds policies parse_policy accepted
        raise InternalFailure from None


class ReleaseGate:
    def __init__(self, store: Store, attestation: AttestationService, clock: Clock) -> None:
        self._store = store
        self._attestation = attestation
        self._clock = clock

    def __repr__(self) -> str:
        return "<ReleaseGate>"

    async def challenge(self, appid: str) -> Challenge:
        """GetAttestationChallenge: a fresh single-use nonce of ``appid``, valid CHALLENGE_TTL_MS."""
        nonce = os.urandom(NONCE_BYTES)
        now = self._clock.now_ms()
        expires = now + CHALLENGE_TTL_MS
        if not await self._store.insert_attestation_nonce(appid, nonce.hex(), expires, now, MAX_OPEN_CHALLENGES):
            raise TooManyChallenges(MAX_OPEN_CHALLENGES)
        return Challenge(nonce, expires)

    async def check(self, appid: str, bundle: AttestationBundle, subjects: Sequence[Subject]) -> ReleaseGrant:
        """Spend the bundle's nonce, verify its quote and binding, and evaluate every subject's policy."""
        try:
            recipient = load_recipient_key(bundle.recipient_public_key)
        except RecipientKeyError as exc:
            raise MalformedParameter("recipientPublicKey", str(exc)) from None
        if len(bundle.nonce) != NONCE_BYTES:
            raise AttestationNonceInvalid
        if not await self._store.consume_attestation_nonce(appid, bundle.nonce.hex(), self._clock.now_ms()):
            raise AttestationNonceInvalid
        verdict = await self._attestation.verify_for_release(bundle.quote)
        quote = verdict.quote
        if quote is None:
            raise MalformedParameter("quote", _short(verdict.reason.removeprefix("malformed quote: ")))
        if not verdict.ok:
            raise AttestationRejected(_short(verdict.reason))
        expected = release_report_data(bundle.nonce, recipient.der)
        if not hmac.compare_digest(bytes.fromhex(quote.report_data), expected):
            raise AttestationRejected(BINDING_MISMATCH)
        gated = [s for s in subjects if s.policy is not None]
        if not gated and not default_satisfied(verdict.tcb_status, simulated=verdict.simulated):
            raise ReleasePolicyNotMet(subjects[0].kind, subjects[0].name, DEFAULT_POLICY_ID)
        for subject in gated:
            policy = stored_policy(subject.policy or "")
            if not satisfies(policy, quote, verdict.tcb_status, simulated=verdict.simulated):
                raise ReleasePolicyNotMet(subject.kind, subject.name, policy.policy_id)
        return ReleaseGrant(
            appid=appid,
            keys=frozenset((s.ident, s.policy) for s in subjects if s.kind == "key" and s.policy is not None),
            secrets=frozenset((s.ident, s.policy) for s in subjects if s.kind == "secret" and s.policy is not None),
            recipient=recipient,
            nonce=bundle.nonce,
        )


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
