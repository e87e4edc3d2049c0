"""One exception hierarchy; every error maps to a wire code and message (docs/protocol.md section 1).

Messages are fixed texts or name a field; they never carry key material, plaintext or apikeys.
"""

from __future__ import annotations

INTERNAL_ERROR_MESSAGE = "Server internal error, please contact the administrator."


class EhsmError(Exception):
    """Base of every error that is answered in the response envelope."""

    code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParamError(EhsmError):
    """A request or payload field is missing, of the wrong type, too long or malformed."""


class AuthError(EhsmError):
    """Unknown appid, bad signature, stale timestamp or replayed request."""


class NotFoundError(EhsmError):
    """The named object does not exist for the calling app (foreign objects look the same)."""


class StateError(EhsmError):
    """The object exists but its state or usage forbids the operation."""


class CryptoError(EhsmError):
    """A cryptographic operation failed on client-supplied data (bad tag, wrong key, wrong aad)."""


class EnrollError(EhsmError):
    """Enrollment is not allowed by the server's enroll policy."""


class RateLimitError(EhsmError):
    """The app sent more requests than its rate limit allows."""


class ApiNotFound(EhsmError):
    """Unknown Action."""

    code = 404

    def __init__(self, message: str = "API Not Found") -> None:
        super().__init__(message)


class InternalError(EhsmError):
    """A server-side failure; the wire never shows details."""

    code = 500

    def __init__(self, message: str = INTERNAL_ERROR_MESSAGE) -> None:
        super().__init__(message)


class StartupError(Exception):
    """The server cannot start (bad configuration, wrong root key, loose file permissions)."""
