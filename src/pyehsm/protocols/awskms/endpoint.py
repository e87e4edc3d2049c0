"""The AWS KMS door's endpoint: ``POST /`` (raw ASGI), routed by ``X-Amz-Target: TrentService.<Operation>``.

Request path: size-limited body -> SigV4 (time window, access key = appid, signature recomputed by
botocore, constant time) -> target -> rate limit -> JSON body -> operation -> one JSON answer.

Replays: as on AWS, a signed request is valid for its 15-minute window and is NOT spent once: SigV4
signs to the second and carries no nonce, so two identical calls in the same second (two CreateKey,
two Encrypt of the same plaintext, an SDK retry) have identical signatures and must both be answered.
Requests are protected in transit by TLS, as on AWS (docs/aws-kms.md, "Replays").

Errors: HTTP 4xx/5xx with ``{"__type", "message"}`` (errors.py); never a stack trace, a key or a plaintext.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from pyehsm.audit import AuditTrail, Record
from pyehsm.errors import AuditUnavailable, DomainError
from pyehsm.http.asgi import FailureLog, Receive, Scope, Send, request_ids
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.protocols.awskms import sigv4
from pyehsm.protocols.awskms.errors import INTERNAL_MESSAGE, AwsError, to_aws, unsupported
from pyehsm.protocols.awskms.ops.context import Ctx, Handler
from pyehsm.protocols.ehsm.endpoint import BodyTooLarge, read_body
from pyehsm.services.container import Services
from pyehsm.store.base import ReplayGuard

TARGET_PREFIX = "TrentService."
CONTENT_TYPE = b"application/x-amz-json-1.1"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class AwsKmsEndpoint:
    def __init__(
        self,
        services: Services,
        replay: ReplayGuard,
        operations: Mapping[str, Handler],
        audit: AuditTrail,
        max_body_bytes: int,
        region: str,
        limiter: RateLimiter | None = None,
        observers: Sequence[Callable[[str, int, float], None]] = (),
    ) -> None:
        self.services = services
        self.replay = replay  # unused by SigV4 (see Replays above); kept for the adapter's common wiring
        self.operations = operations
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.region = region
        self.limiter = limiter
        self.observers = observers
        self._request_ids = request_ids()
        self._failures = FailureLog()

    def __repr__(self) -> str:
        return "<AwsKmsEndpoint>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = next(self._request_ids)
        headers = _headers(scope)
        target = headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        known = name if name in self.operations else ""
        ctx = Ctx(self.services, "", self.region)
        error_class: str | None = None
        try:
            if scope.get("method") != "POST":
                raise AwsError("UnknownOperationException", "The AWS KMS protocol takes POST requests only.")
            try:
                body = await read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                raise AwsError("ValidationException", "The request body is too large.", 413) from None
            await self._authenticate(scope, headers, body, ctx)
            if not name:
                raise AwsError("UnknownOperationException", "X-Amz-Target must be TrentService.<Operation>.")
            handler = self.operations.get(name)
            if handler is None:
                raise unsupported(f"{name} is not supported by pyehsm.")
            if self.limiter is not None:
                self.limiter.check(ctx.appid)
            try:
                request = _decode(body or b"{}")
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                # invalid UTF-8 can surface as UnicodeDecodeError and very deep nesting as RecursionError
                raise AwsError("SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(request, dict):
                raise AwsError("SerializationException", "The request body must be a JSON object.")
            if self.audit.required:  # audit or refuse: the begin record first (docs/audit.md)
                await self.audit.admit(self._audit_record(scope, request_id, known, ctx, headers, 0, None, 0.0))
            status, out = 200, _encode(await handler(ctx, request))
        except AwsError as exc:
            status, out, error_class = exc.status, _error(exc), exc.name
        except DomainError as exc:
            err = to_aws(exc)
            status, out, error_class = err.status, _error(err), type(exc).__name__
        except Exception as exc:
            self._failures.record(exc, known or "unknown", request_id)
            status, out, error_class = 500, _error(AwsError("KMSInternalException", INTERNAL_MESSAGE, 500)), "internal"
        record: Record | None = None
        if self.audit.enabled:
            elapsed = time.perf_counter() - started
            record = self._audit_record(scope, request_id, known, ctx, headers, status, error_class, elapsed)
        # audit or refuse (docs/audit.md): in required mode the outcome is written before the response
        if record is not None and self.audit.required and not await self.audit.write(record):
            err = to_aws(AuditUnavailable())
            status, out = err.status, _error(err)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", CONTENT_TYPE),
                    (b"content-length", str(len(out)).encode()),
                    (b"x-amzn-requestid", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})
        if record is not None and not self.audit.required:
            self.audit.record(record)
        elapsed = time.perf_counter() - started
        for observe in self.observers:
            observe(f"aws:{known}" if known else "unknown", status, elapsed)

    def _audit_record(
        self,
        scope: Scope,
        request_id: str,
        operation: str,
        ctx: Ctx,
        headers: dict[str, str],
        code: int,
        err: str | None,
        elapsed: float,
    ) -> Record:
        """The door's audit record (docs/audit.md): door "aws", the operation, the authenticated appid or, for
        a request that failed authentication, the access key it claimed (marked unauthenticated)."""
        return self.audit.request(
            request_id=request_id,
            client=scope.get("client"),
            forwarded_for=_forwarded_for(scope) if self.audit.peer.trusted else None,
            action=operation,
            appid=ctx.appid or sigv4.claimed_access_key(headers.get("authorization")),
            authenticated=bool(ctx.appid),
            keyid=ctx.keyid,
            key_version=None,
            name=None,
            code=code,
            error=err,
            latency_us=int(elapsed * 1e6),
            door="aws",
        )

    async def _authenticate(self, scope: Scope, headers: dict[str, str], body: bytes, ctx: Ctx) -> None:
        auth = sigv4.parse_authorization(headers.get("authorization"))
        amz_date = headers.get("x-amz-date", "")
        request_ms = sigv4.request_time_ms(amz_date)
        now = self.services.clock.now_ms()
        sigv4.check_time(request_ms, now, amz_date)
        secret = await self.services.apps.apikey(auth.access_key)
        if secret is None:
            raise AwsError("UnrecognizedClientException", "The security token included in the request is invalid.")
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        path = scope.get("raw_path") or scope.get("path", "/")
        path_text = path.decode("latin-1") if isinstance(path, bytes) else str(path)
        if not sigv4.signature_matches(auth, secret, "POST", path_text, query, headers, body, amz_date):
            raise AwsError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        ctx.appid = auth.access_key


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name; a header sent twice is both values joined by a comma, as
    SigV4 canonicalizes it: never the last one alone, so an unsigned copy of a signed header (a second
    X-Amz-Target or Authorization) is refused rather than ignored."""
    headers: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")  # bytes or bytearray (ASGI)
        if name in headers:
            text = f"{headers[name]},{text}"
        headers[name] = text
    return headers


def _forwarded_for(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == b"x-forwarded-for":
            return bytes(value).decode("latin-1")
    return None


def _error(err: AwsError) -> bytes:
    payload: dict[str, Any] = {"__type": err.name, "message": err.message}
    return _encode(payload)
