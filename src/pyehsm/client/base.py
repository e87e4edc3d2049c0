"""What the sync and async clients share: credentials, request signing, retry rules, answer parsing.

Every request is first described as an :class:`Exchange` (method, URL, a body built anew for each
attempt, whether it may be re-sent, and the parser of the answer); the two transports
(:class:`pyehsm.client.Client` on ``httpx.Client``, :class:`pyehsm.client.AsyncClient` on
``httpx.AsyncClient``) only send it, wait between attempts and hand the answer to its parser.

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
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from pyehsm.client import operations as ops
from pyehsm.client.errors import EhsmConnectionError, ProtocolError
from pyehsm.client.models import Response, VersionInfo
from pyehsm.clock import Clock, SystemClock
from pyehsm.protocols.ehsm.signing import canonical_string, envelope_params, sign_string

T = TypeVar("T")
U = TypeVar("U")
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

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


def _as_is(response: Response) -> Response:
    return response


@dataclass(frozen=True, slots=True)
class Exchange(Generic[T]):
    """One request to make and how to read its answer, as data (no I/O).

    ``body`` is called for every attempt, so a signed request is signed anew (fresh nonce) each time;
    ``idempotent`` says whether it may be re-sent once it may have reached the server.
    """

    method: str
    url: str
    body: Callable[[], bytes | None]
    headers: Mapping[str, str]
    idempotent: bool
    parse: Callable[[Response], T]

    def map(self, then: Callable[[T], U]) -> Exchange[U]:
        """The same request, its parsed answer passed on to ``then``."""
        parse = self.parse
        return Exchange(self.method, self.url, self.body, self.headers, self.idempotent, lambda r: then(parse(r)))


class BaseClient(ABC, Generic[H]):
    """Credentials, request signing and the exchanges; ``H`` is the transport's httpx client class."""

    def __init__(
        self,
        base_url: str,
        appid: str = "",
        apikey: str = "",
        *,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = 30.0,
        http: H | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        sign_action: bool = False,
    ) -> None:
        """``base_url`` ends in /ehsm, e.g. http://127.0.0.1:9000/ehsm.

        ``timeout`` applies to each attempt; ``verify`` is True, False or a CA bundle path (HTTPS);
        ``http`` an ``httpx.Client`` (Client) or ``httpx.AsyncClient`` (AsyncClient) to use instead.
        ``sign_action``: every signed request also carries and signs its Action (``"action"`` in the
        envelope), so a captured request cannot be re-sent as another Action. Off by default: a server
        that does not know the field (Intel's, older pyehsm) answers ``sign error``.

            >>> c = Client("https://kms.example:9000/ehsm", appid, apikey, timeout=5, verify="ca.pem")
        """
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.apikey = apikey
        self.clock = clock or SystemClock()
        self.retry = retry if retry is not None else RetryPolicy()
        self.sign_action = sign_action
        self._http: H = http or self._open_http(timeout, tls_verify(verify))

    @abstractmethod
    def _open_http(self, timeout: float | httpx.Timeout, verify: bool | ssl.SSLContext) -> H:
        """The transport's own httpx client, when none was given."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} appid={self.appid}>"

    def envelope(
        self, payload: dict[str, Any] | None, *, nonce: str | None = None, action: str | None = None
    ) -> dict[str, Any]:
        """A signed request envelope for ``payload`` (None: no payload field at all).

        ``action``: the envelope also carries and signs ``"action": action`` (send it to ``?Action=``
        the same name); the clients pass it on every signed request when made with ``sign_action=True``.
        """
        body = envelope_params(self.appid, str(self.clock.now_ms()), payload, nonce, action)
        body["sign"] = sign_string(self.apikey, canonical_string(body))
        return body

    # -- exchanges: every request the clients can make, described once ---------------------------------
    def _signed(self, action: str, payload: dict[str, Any] | None) -> Exchange[Response]:
        """A signed POST; every attempt carries a fresh random nonce, so two different Actions sent with
        the same payload in the same millisecond never share a signature (the replay guard keys on it)."""

        def body() -> bytes:
            signed_action = action if self.sign_action else None
            return msgspec.json.encode(self.envelope(payload, nonce=secrets.token_hex(8), action=signed_action))

        return Exchange("POST", self._post_url(action), body, JSON_HEADERS, action in ops.IDEMPOTENT_ACTIONS, _as_is)

    def _raw(self, action: str, body: bytes | dict[str, Any]) -> Exchange[Response]:
        """A prepared body sent as is; re-sent only when the first try never left this machine."""
        content = body if isinstance(body, bytes) else msgspec.json.encode(body)
        return Exchange("POST", self._post_url(action), lambda: content, JSON_HEADERS, False, _as_is)

    def _unsigned_get(self, action: str, headers: Mapping[str, str] | None = None) -> Exchange[Response]:
        idempotent = action in ops.IDEMPOTENT_ACTIONS
        return Exchange("GET", self._get_url(action), lambda: None, headers or {}, idempotent, _as_is)

    def _exchange(self, call: ops.Call[T]) -> Exchange[T]:
        """The exchange for a prepared :class:`pyehsm.client.operations.Call`: signed, result parsed."""
        return self._signed(call.action, call.payload).map(Response.raise_for_code).map(call.parse)

    def _version(self) -> Exchange[VersionInfo]:
        return self._unsigned_get("GetVersion").map(Response.raise_for_code).map(VersionInfo.from_result)

    def _enroll(self, admin_token: str | None) -> Exchange[None]:
        """Enroll, taking the new app's credentials; never re-sent once sent (it would create a second app)."""
        headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else None
        return self._unsigned_get("Enroll", headers).map(Response.raise_for_code).map(self._take_credentials)

    def _take_credentials(self, result: dict[str, Any]) -> None:
        self.appid, self.apikey = str(result["appid"]), str(result["apikey"])

    def _retry_delay(self, exchange: Exchange[Any], exc: httpx.HTTPError, attempt: int) -> float:
        """How long to wait before re-sending after ``exc``; EhsmConnectionError when it must not be."""
        if attempt >= self.retry.retries or not may_retry(exc, exchange.idempotent):
            raise EhsmConnectionError(f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
        return self.retry.delay(attempt)

    def _post_url(self, action: str) -> str:
        return f"{self.base_url}?Action={action}"

    def _get_url(self, action: str) -> str:
        return f"{self.base_url}/?Action={action}"
