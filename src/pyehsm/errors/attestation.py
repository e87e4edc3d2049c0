"""Refusals of remote attestation and attestation-gated key release (docs/key-release.md)."""

from __future__ import annotations

from typing import Literal

from pyehsm.errors.base import DomainError

# -- attestation ------------------------------------------------------------------------------------------


class QuoteProviderMissing(DomainError):
    """This server cannot generate quotes (no TEE quote provider)."""


class QuotePolicyNotFound(DomainError):
    def __init__(self, policy_id: str) -> None:
        super().__init__(policy_id)
        self.policy_id = policy_id


# -- key release (docs/key-release.md) ---------------------------------------------------------------------

ReleaseSubject = Literal["key", "secret"]


class ReleasePolicyInvalid(DomainError):
    """A release policy document is refused; ``detail`` names the place and the rule (never a value)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ReleaseAttestationRequired(DomainError):
    """The key or secret has a release policy and the request carries no attestation bundle (or cannot
    carry one: a batch, the AWS door)."""

    def __init__(self, subject: ReleaseSubject, name: str) -> None:
        super().__init__(subject, name)
        self.subject, self.name = subject, name


class ReleasePolicyNotMet(DomainError):
    """The verified quote satisfies no alternative of the release policy ``policy_id`` (which condition
    failed is never said)."""

    def __init__(self, subject: ReleaseSubject, name: str, policy_id: str) -> None:
        super().__init__(subject, name, policy_id)
        self.subject, self.name, self.policy_id = subject, name, policy_id


class AttestationNonceInvalid(DomainError):
    """The bundle's nonce is unknown to this app, expired or already spent."""


class AttestationRejected(DomainError):
    """The bundle's quote does not verify, or its report data does not bind the nonce and recipient key;
    ``reason`` is the verifier's (no policy condition in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyChallenges(DomainError):
    """The app holds ``limit`` unspent attestation challenges already."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit
