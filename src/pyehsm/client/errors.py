"""Client-side exceptions: one class per error class of the wire protocol (docs/protocol.md section 1).

The server answers every error in the envelope (``code`` and ``message``); :func:`error_for` maps
that pair to the most specific class, so callers can write ``except NotFoundError``:

    >>> from pyehsm.client.errors import NotFoundError, error_for
    >>> isinstance(error_for(400, "keyid error"), NotFoundError)
    True
"""

from __future__ import annotations


class EhsmApiError(Exception):
    """The server answered with a code other than 200 (base of every API error)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ClientError(EhsmApiError):
    """Code 400: the request was refused (base of the specific 400 classes)."""


class ParamError(ClientError):
    """A request or payload field is missing, of the wrong type, too long or malformed."""


class AuthError(ClientError):
    """Unknown appid, bad signature, timestamp outside the window or replayed request."""


class NotFoundError(ClientError):
    """Unknown key, secret or quote policy (another app's objects look exactly the same)."""


class StateError(ClientError):
    """The object exists but its state or usage forbids the operation (disabled key, deleted secret...)."""


class CryptoError(ClientError):
    """A cryptographic operation failed on the data sent (wrong key, modified ciphertext, other aad)."""


class EnrollError(ClientError):
    """The server's enroll policy refused to create an app."""


class RateLimitError(ClientError):
    """The app exceeded its request rate; retry later."""


class ApiNotFoundError(EhsmApiError):
    """Code 404: the server does not know the Action."""


class ServerError(EhsmApiError):
    """Code 500: the server failed; its message never carries details."""


class ProtocolError(EhsmApiError):
    """The answer was not an eHSM envelope (non-200 HTTP status, not JSON, no ``result``)."""


class ResponseSignatureError(EhsmApiError):
    """A signed answer (VerifyQuote) did not carry a valid HMAC made with this app's apikey."""


class EhsmConnectionError(ConnectionError):
    """The server could not be reached (after the allowed retries); the cause is chained."""


_AUTH_MESSAGES = ("sign error", "appid not found", "appid error")
_NOT_FOUND_MARKERS = (
    "keyid error",
    "keyid not found",
    "not found",
    "not exist",
    "can not find",
    "cannot find",
    "invalid policyid",
)
# A ciphertext that is not one at all ("Parameter invalid, The ciphertext is not a pyehsm ciphertext.") is
# malformed input, a ParamError; only a well-formed one that does not decrypt is a CryptoError.
_CRYPTO_MARKERS = ("decrypt failed", "verify failed", "decryption failed")
_STATE_MARKERS = (
    "disabled",
    "waiting for",
    "not been imported",
    "does not support",
    "does not allow",
    "deleted",
    "already exists",
    "pending",
    "can not",
    "cannot use",
)
_PARAM_PREFIXES = ("missing required parameters", "parameter invalid", "param type error", "nonce length error")


def _classify_400(message: str) -> type[ClientError]:
    text = message.lower()
    if "rate limit" in text or "too many requests" in text:
        return RateLimitError
    if text.startswith("enroll"):
        return EnrollError
    if text in _AUTH_MESSAGES or text.startswith("timestamp"):
        return AuthError
    if any(marker in text for marker in _CRYPTO_MARKERS):
        return CryptoError
    if text.startswith(_PARAM_PREFIXES):
        return ParamError
    if any(marker in text for marker in _NOT_FOUND_MARKERS):
        return NotFoundError
    if any(marker in text for marker in _STATE_MARKERS):
        return StateError
    if text.startswith("the ") and ("must" in text or "length" in text or "less than" in text):
        return ParamError
    return ClientError


def error_for(code: int, message: str) -> EhsmApiError:
    """The exception for an envelope's error ``code`` and ``message``.

    >>> type(error_for(400, "sign error")).__name__
    'AuthError'
    """
    if code == 400:
        return _classify_400(message)(code, message)
    if code == 404:
        return ApiNotFoundError(code, message)
    if code >= 500:
        return ServerError(code, message)
    return EhsmApiError(code, message)
