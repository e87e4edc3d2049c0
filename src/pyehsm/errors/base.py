"""The base of every domain error, request-parameter refusals, app limits and server faults."""

from __future__ import annotations

from typing import Literal


class DomainError(Exception):
    """Base of every refusal a protocol answers in its own form (never a stack trace)."""

    def __init__(self, *facts: object) -> None:
        super().__init__(*facts)

    def __str__(self) -> str:
        return f"{type(self).__name__}{self.args!r}"


# -- request parameters ------------------------------------------------------------------------------


class MissingParameter(DomainError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class MalformedParameter(DomainError):
    """``field`` is not in its format; ``detail`` (optional) says how, in the parser's words, without data."""

    def __init__(self, field: str, detail: str | None = None) -> None:
        super().__init__(field, detail)
        self.field, self.detail = field, detail


class NotABoolean(DomainError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class ParametersDisagree(DomainError):
    """Two spellings of one parameter were sent with different values."""

    def __init__(self, field: str, other: str) -> None:
        super().__init__(field, other)
        self.field, self.other = field, other


class OutOfRange(DomainError):
    """``field`` is outside [low, high] (in the field's own unit)."""

    def __init__(self, field: str, low: int, high: int) -> None:
        super().__init__(field, low, high)
        self.field, self.low, self.high = field, low, high


class LimitExceeded(DomainError):
    """``field`` is longer than ``limit`` bytes allow under ``scheme``."""

    def __init__(self, field: str, limit: int, scheme: str) -> None:
        super().__init__(field, limit, scheme)
        self.field, self.limit, self.scheme = field, limit, scheme


class TooManyItems(DomainError):
    """A batch request holds more than ``limit`` items in ``field``."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field, limit)
        self.field, self.limit = field, limit


class QuotePolicyMixesTees(DomainError):
    """A quote policy names SGX measurements and TDX ones together."""


# -- apps and limits --------------------------------------------------------------------------------------

EnrollRefusal = Literal["bad_token", "token_required", "closed"]


class EnrollRefused(DomainError):
    def __init__(self, reason: EnrollRefusal) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(DomainError):
    """The app sent more requests than its rate limit allows."""

    def __init__(self, appid: str) -> None:
        super().__init__(appid)
        self.appid = appid


# -- server faults ----------------------------------------------------------------------------------------


class InternalFailure(DomainError):
    """A server-side failure; no protocol shows its details."""


class AuditUnavailable(DomainError):
    """--audit-mode required: the request's audit record could not be written, so it is refused
    (before its handler ran: it changed nothing; docs/audit.md)."""


class StartupError(Exception):
    """The server cannot start (bad configuration, wrong root key, loose file permissions)."""
