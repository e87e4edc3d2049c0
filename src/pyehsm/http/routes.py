"""HTTP transport: /ehsm dispatch (raw ASGI for a short hot path), /healthz, /readyz.

Request path (docs/architecture.md section 6): size-limited body -> envelope checks -> payload Struct ->
apikey lookup + signature (constant time) -> replay guard -> handler -> one rendered envelope.
Always HTTP 200 with {code, message, result}; errors never carry secrets or stack traces.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pyehsm.actions.registry import ActionSpec, Caller, Reply
from pyehsm.actions.validation import decode_payload
from pyehsm.audit import AuditLog
from pyehsm.errors import ApiNotFound, AuthError, EhsmError, InternalError, ParamError
from pyehsm.http.envelope import parse_envelope, render
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.services.container import Services
from pyehsm.signing import signature_matches
from pyehsm.store.base import ReplayGuard

log = logging.getLogger("pyehsm.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
REPLAYED = "Timestamp can't be repeated in 20 minutes"
_METHODS = frozenset({"GET", "POST"})


class BodyTooLarge(ParamError):
    def __init__(self) -> None:
        super().__init__("Parameter invalid, The request body is too large.")


async def read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):  # the usual: one message
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge
        return body
    return await _read_chunks(message, receive, limit)


async def _read_chunks(message: Message, receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return b"".join(chunks)


def request_ids() -> Iterator[str]:
    """16 hex characters per request: a random per-process prefix and a counter (unique, not secret;
    cheaper than 8 fresh random bytes per request)."""
    prefix = secrets.token_hex(4)
    return (f"{prefix}{n:08x}" for n in itertools.count())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _action_name(scope: Scope, known_queries: dict[bytes, str]) -> str:
    raw = scope.get("query_string", b"")
    known = known_queries.get(raw)  # the usual `?Action=Name` of a real action: one dict lookup
    if known is not None:
        return known
    raw = bytes(raw)
    if raw.startswith(b"Action=") and b"&" not in raw and b"%" not in raw and b"+" not in raw:
        return raw[7:].decode("latin-1")
    query = parse_qs(raw.decode("latin-1"))
    values = query.get("Action")
    return values[0] if values else ""


class EhsmEndpoint:
    """The single /ehsm endpoint as an ASGI app."""

    def __init__(
        self,
        services: Services,
        replay: ReplayGuard,
        actions: dict[str, ActionSpec],
        audit: AuditLog,
        max_body_bytes: int,
    ) -> None:
        self.services = services
        self.replay = replay
        self.actions = actions
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.observers: list[Callable[[str, int, float], None]] = []  # (action, code, seconds) -> None
        self.limiter: RateLimiter | None = None  # per-app rate limit, checked after authentication
        self._request_ids = request_ids()
        self._known_queries = {f"Action={name}".encode(): name for name in actions}  # b"Action=X" -> "X"

    def __repr__(self) -> str:
        return "<EhsmEndpoint>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = next(self._request_ids)
        name = _action_name(scope, self._known_queries)
        appid = ""
        keyid: str | None = None
        facts = _AuditFacts()
        try:
            if scope.get("method") not in _METHODS:
                raise ParamError(f"Parameter invalid, The HTTP method {scope.get('method')} is not supported.")
            spec = self.actions.get(name)
            if spec is None:
                raise ApiNotFound
            if spec.signed:
                body = await read_body(receive, self.max_body_bytes)
                reply, appid = await self._signed(spec, body, request_id, facts)
            else:
                caller = Caller("", request_id, _header(scope, b"x-pyehsm-admin-token"))
                reply = await spec.handler(self.services, caller, None)
            keyid = reply.keyid
            code, message, result = 200, reply.message, reply.result
        except EhsmError as exc:
            code, message, result = exc.code, exc.message, {}
        except Exception:
            log.exception("internal error in action %s (request %s)", name, request_id)
            err = InternalError()
            code, message, result = err.code, err.message, {}
        appid, keyid = appid or facts.appid, keyid or facts.keyid  # failed after authentication
        body_out = render(code, message, result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    *_JSON_HEADERS,
                    (b"content-length", str(len(body_out)).encode()),  # not chunked: one frame, no trailer
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body_out})
        elapsed = time.perf_counter() - started
        known = name if name in self.actions else ""  # never echo an arbitrary query string into logs
        self.audit.record(
            time_ms=self.services.clock.now_ms(),
            request_id=request_id,
            appid=appid,
            action=known,
            keyid=keyid,
            code=code,
            latency_us=int(elapsed * 1e6),
        )
        for observe in self.observers:
            observe(known or "unknown", code, elapsed)

    async def _signed(
        self, spec: ActionSpec, body: bytes, request_id: str, facts: _AuditFacts
    ) -> tuple[Reply, str]:
        now = self.services.clock.now_ms()
        env = parse_envelope(body, now)
        if env.payload is None and spec.payload_required:
            raise ParamError("Missing required parameters")
        payload = decode_payload(env.payload, spec.payload) if spec.payload is not None else None
        apikey = await self.services.apps.apikey(env.appid)
        if apikey is None:
            raise AuthError("appid not found")
        if not signature_matches(apikey, env.signed_params(), env.sign):
            raise AuthError("sign error")
        facts.appid, facts.keyid = env.appid, _payload_keyid(payload)
        if self.limiter is not None:
            self.limiter.check(env.appid)
        if not await self.replay.remember(env.appid, env.sign, now, int(env.timestamp)):
            raise AuthError(REPLAYED)
        reply = await spec.handler(self.services, Caller(env.appid, request_id), payload)
        return reply, env.appid


@dataclass(slots=True)
class _AuditFacts:
    """What the audit record of a request that fails after authentication still names."""

    appid: str = ""
    keyid: str | None = None


def _payload_keyid(payload: object) -> str | None:
    keyid = getattr(payload, "keyid", None)
    return keyid if isinstance(keyid, str) else None
