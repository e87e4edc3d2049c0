"""The eHSM door: the single /ehsm endpoint (raw ASGI for a short hot path), routing by ``?Action=``.

Request path (docs/architecture.md section 6): size-limited body -> envelope checks -> payload Struct ->
apikey lookup + signature (constant time) -> replay guard -> signed action -> payload refusal ->
rate limit -> handler -> one rendered envelope.
Always HTTP 200 with {code, message, result}; errors never carry secrets or stack traces.

The Action (the query string) is not covered by Intel's signature, so a signed request is spent by
the replay guard as soon as its signature is verified, before any other refusal: a request refused
for any reason (payload, rate limit, signed-action mismatch, the handler's own errors) can never be
sent again, under another Action or the same. A payload refusal found before authentication is
answered as before (its message wins over "appid not found"/"sign error"), but after the signature
check, so an authentic request is spent by it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pyehsm.audit import AuditTrail, Record
from pyehsm.errors import AuditUnavailable, DomainError
from pyehsm.http.asgi import FailureLog, Message, Receive, Scope, Send, request_ids
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.protocols.ehsm.envelope import parse_envelope, render
from pyehsm.protocols.ehsm.errors import ApiNotFound, AuthError, EhsmError, InternalError, ParamError, answer
from pyehsm.protocols.ehsm.handler import ActionSpec, Caller, Reply
from pyehsm.protocols.ehsm.signing import signature_matches
from pyehsm.protocols.ehsm.validation import decode_payload
from pyehsm.services.container import Services
from pyehsm.store.base import ReplayGuard

_JSON_HEADERS = [(b"content-type", b"application/json")]
REPLAYED = "Timestamp can't be repeated in 20 minutes"
ACTION_MISMATCH = "Action does not match the signed action"
SIGNED_ACTION_REQUIRED = "Signed action required"
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
    # Exactly one: the Action is not signed, so with two, which one a proxy or a log reads is anyone's guess.
    return values[0] if values and len(values) == 1 else ""


class EhsmEndpoint:
    """The single /ehsm endpoint as an ASGI app."""

    def __init__(
        self,
        services: Services,
        replay: ReplayGuard,
        actions: Mapping[str, ActionSpec],
        audit: AuditTrail,
        max_body_bytes: int,
        limiter: RateLimiter | None = None,
        observers: Sequence[Callable[[str, int, float], None]] = (),
    ) -> None:
        self.services = services
        self.replay = replay
        self.actions = actions
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.observers = observers  # (action, code, seconds) -> None; the wiring's list, filled at start-up
        self.limiter = limiter  # per-app rate limit, checked after authentication
        self._request_ids = request_ids()
        self._failures = FailureLog()
        self._known_queries = {f"Action={name}".encode(): name for name in actions}  # b"Action=X" -> "X"

    def __repr__(self) -> str:
        return "<EhsmEndpoint>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = next(self._request_ids)
        name = _action_name(scope, self._known_queries)
        facts = _AuditFacts()
        error: str | None = None
        try:
            if scope.get("method") not in _METHODS:
                raise ParamError(f"Parameter invalid, The HTTP method {scope.get('method')} is not supported.")
            spec = self.actions.get(name)
            if spec is None:
                raise ApiNotFound
            if spec.signed:
                body = await read_body(receive, self.max_body_bytes)
                reply, _ = await self._signed(spec, name, body, request_id, facts, scope)
            else:
                caller = Caller("", request_id, _header(scope, b"x-pyehsm-admin-token"))
                if self.audit.required:  # audit or refuse: the begin record first (docs/audit.md)
                    await self.audit.admit(self._audit_record(scope, request_id, name, facts, 0, None, 0))
                reply = await spec.handler(self.services, caller, None)
            facts.keyid, facts.key_version = reply.keyid or facts.keyid, reply.key_version
            code, message, result = 200, reply.message, reply.result
        except EhsmError as exc:  # the envelope's own refusals
            code, message, result, error = exc.code, exc.message, {}, type(exc).__name__
        except DomainError as exc:  # the services' refusals, through the one table
            (code, message), result, error = answer(exc), {}, type(exc).__name__
        except Exception as exc:
            self._failures.record(exc, name if name in self.actions else "unknown", request_id)
            err = InternalError()
            code, message, result, error = err.code, err.message, {}, "InternalError"
        known = name if name in self.actions else ""  # never echo an arbitrary query string into logs
        record = None
        if self.audit.enabled:
            record = self._audit_record(scope, request_id, known, facts, code, error, time.perf_counter() - started)
        # audit or refuse (docs/audit.md): in required mode the outcome is written before the response
        if record is not None and self.audit.required and not await self.audit.write(record):
            (code, message), result = answer(AuditUnavailable()), {}
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
        if record is not None and not self.audit.required:
            self.audit.record(record)
        for observe in self.observers:
            observe(known or "unknown", code, elapsed)

    def _audit_record(
        self, scope: Scope, request_id: str, action: str, facts: _AuditFacts, code: int, err: str | None, elapsed: float
    ) -> Record:
        return self.audit.request(
            request_id=request_id,
            client=scope.get("client"),
            forwarded_for=_header(scope, b"x-forwarded-for") if self.audit.peer.trusted else None,
            action=action,
            appid=facts.appid or facts.claimed,
            authenticated=bool(facts.appid),
            keyid=facts.keyid,
            key_version=facts.key_version,
            name=facts.name,
            code=code,
            error=err,
            latency_us=int(elapsed * 1e6),
        )

    async def _signed(
        self, spec: ActionSpec, name: str, body: bytes, request_id: str, facts: _AuditFacts, scope: Scope
    ) -> tuple[Reply, str]:
        now = self.services.clock.now_ms()
        env = parse_envelope(body, now)
        facts.claimed = env.appid if isinstance(env.appid, str) else ""
        payload: Any = None
        refusal: ParamError | None = None  # a bad payload is answered after the signature check
        try:
            if env.payload is None and spec.payload_required:
                raise ParamError("Missing required parameters")
            payload = decode_payload(env.payload, spec.payload) if spec.payload is not None else None
        except ParamError as exc:
            refusal = exc
        apikey = await self.services.apps.apikey(env.appid)
        if apikey is None:
            raise refusal or AuthError("appid not found")
        if not signature_matches(apikey, env.signed_params(), env.sign):
            raise refusal or AuthError("sign error")
        # Authentic: spend it now, before any other refusal (the Action is not signed by Intel's form).
        if not await self.replay.remember(env.appid, env.sign, now, int(env.timestamp)):
            raise AuthError(REPLAYED)
        facts.appid, facts.keyid, facts.name = env.appid, _payload_keyid(payload), _payload_name(payload)
        if env.action is not None:
            if env.action != name:
                raise AuthError(ACTION_MISMATCH)
        elif await self.services.apps.requires_signed_action(env.appid, now):
            raise AuthError(SIGNED_ACTION_REQUIRED)
        if refusal is not None:
            raise refusal
        if self.limiter is not None:
            self.limiter.check(env.appid)
        caller = Caller(env.appid, request_id, signed_action=env.action is not None)
        if self.audit.required:  # audit or refuse: the begin record first (docs/audit.md)
            await self.audit.admit(self._audit_record(scope, request_id, name, facts, 0, None, 0))
        reply = await spec.handler(self.services, caller, payload)
        return reply, env.appid


@dataclass(slots=True)
class _AuditFacts:
    """What the audit record of a request that fails after authentication still names."""

    appid: str = ""  # authenticated
    claimed: str = ""  # the appid the request named (recorded, marked unauthenticated, when it failed)
    keyid: str | None = None
    key_version: int | None = None
    name: str | None = None  # alias or secret name


def _payload_name(payload: object) -> str | None:
    name = getattr(payload, "secretName", None) or getattr(payload, "alias", None)
    return name if isinstance(name, str) else None


def _payload_keyid(payload: object) -> str | None:
    keyid = getattr(payload, "keyid", None)
    return keyid if isinstance(keyid, str) else None
