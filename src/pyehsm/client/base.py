"""What the sync and async clients share: credentials, request signing, retry rules, answer parsing.

Retries (docs/protocol.md's replay guard rejects a second identical request, so every attempt is signed
anew, with a fresh random nonce):

- a failure before the request left this machine (connect error or timeout, no free pooled
  connection) is retried for every Action;
- a connection failure once the request may have been sent (connection reset or closed, write
  error) is retried only for Actions that change nothing or whose repetition is harmless
  (:data:`pyehsm.client.operations.IDEMPOTENT_ACTIONS`);
- a read timeout and every answer the server gave (error codes included) are never retried.
"""

from __future__ import annotations

import math
import random
import secrets
import ssl
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from pyehsm.client.errors import ProtocolError
from pyehsm.client.models import Response
from pyehsm.clock import Clock, SystemClock
from pyehsm.signing import sign_request

ADMIN_TOKEN_HEADER = "X-Pyehsm-Admin-Token"
JSON_HEADERS = {"Content-Type": "application/json"}

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.WriteTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry after a connection failure.

    ``retries`` extra attempts; the n-th retry waits ``backoff * 2**n`` seconds (capped at
    ``max_backoff``), scaled by a random factor in [0.5, 1] so clients do not retry in lockstep.

        >>> RetryPolicy(retries=3, backoff=0.1).delay(2) <= 0.4
        True
    """

    retries: int = 2
    backoff: float = 0.1
    max_backoff: float = 2.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_backoff, math.ldexp(self.backoff, attempt))
        return base * (0.5 + random.random() / 2)


NO_RETRY = RetryPolicy(retries=0)


def may_retry(exc: httpx.HTTPError, idempotent: bool) -> bool:
    """Whether a request that failed with ``exc`` may be sent again."""
    if isinstance(exc, _NOT_SENT):
        return True
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.WriteTimeout):
        return False  # read timeout: the server may still be working on it
    return idempotent and isinstance(exc, _MAYBE_SENT)


def parse_response(status: int, content: bytes) -> Response:
    """The answer envelope; ProtocolError when the answer is not one."""
    if status != 200:
        raise ProtocolError(status, f"HTTP status {status} (expected 200 with an eHSM envelope)")
    try:
        data = msgspec.json.decode(content)
    except msgspec.DecodeError:
        raise ProtocolError(status, "the answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(status, "the answer is not a JSON object")
    code, message, result = data.get("code"), data.get("message"), data.get("result")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
        raise ProtocolError(status, "the answer has no code or message")
    if not isinstance(result, dict):
        raise ProtocolError(status, "the answer has no result object")
    return Response(code, message, result)


def tls_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's ``verify``: True/False, or a CA bundle path turned into an SSL context."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class BaseClient:
    """Credentials and request signing; the transport lives in Client / AsyncClient."""

    def __init__(
        self,
        base_url: str,
        appid: str = "",
        apikey: str = "",
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.apikey = apikey
        self.clock = clock or SystemClock()
        self.retry = retry if retry is not None else RetryPolicy()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} appid={self.appid}>"

    def envelope(self, payload: dict[str, Any] | None, *, nonce: str | None = None) -> dict[str, Any]:
        """A signed request envelope for ``payload`` (None: no payload field at all)."""
        timestamp = str(self.clock.now_ms())
        body: dict[str, Any] = {"appid": self.appid, "timestamp": timestamp}
        if nonce is not None:
            body["nonce"] = nonce
        if payload is not None:
            body["payload"] = payload
        body["sign"] = sign_request(self.apikey, self.appid, timestamp, payload, nonce)
        return body

    def _attempt_body(self, payload: dict[str, Any] | None, attempt: int) -> bytes:
        """Every attempt carries a fresh random nonce, so two different Actions sent with the same
        payload in the same millisecond never share a signature (the replay guard keys on it)."""
        del attempt  # each attempt is signed anew; the attempt number changes nothing else
        return msgspec.json.encode(self.envelope(payload, nonce=secrets.token_hex(8)))

    def _post_url(self, action: str) -> str:
        return f"{self.base_url}?Action={action}"

    def _get_url(self, action: str) -> str:
        return f"{self.base_url}/?Action={action}"
