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

from pyehsm.audit import AuditLog
from pyehsm.errors import DomainError
from pyehsm.http.asgi import FailureLog, Receive, Scope, Send, request_ids
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.protocols.awskms import sigv4
from pyehsm.protocols.awskms.errors import INTERNAL_MESSAGE, AwsError, to_aws, unsupported
from pyehsm.protocols.awskms.operations import Ctx, Handler
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
        audit: AuditLog,
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
        headers = {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in scope.get("headers", ())}
        target = headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        ctx = Ctx(self.services, "", self.region)
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
            except msgspec.DecodeError:
                raise AwsError("SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(request, dict):
                raise AwsError("SerializationException", "The request body must be a JSON object.")
            status, out = 200, _encode(await handler(ctx, request))
        except AwsError as exc:
            status, out = exc.status, _error(exc)
        except DomainError as exc:
            err = to_aws(exc)
            status, out = err.status, _error(err)
        except Exception as exc:
            self._failures.record(exc, name if name in self.operations else "unknown", request_id)
            status, out = 500, _error(AwsError("KMSInternalException", INTERNAL_MESSAGE, 500))
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
        elapsed = time.perf_counter() - started
        known = name if name in self.operations else ""
        code = 200 if status == 200 else status
        self.audit.record(
            time_ms=self.services.clock.now_ms(),
            request_id=request_id,
            appid=ctx.appid,
            action=f"aws:{known}" if known else "",
            keyid=ctx.keyid,
            code=code,
            latency_us=int(elapsed * 1e6),
        )
        for observe in self.observers:
            observe(f"aws:{known}" if known else "unknown", code, elapsed)

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


def _error(err: AwsError) -> bytes:
    payload: dict[str, Any] = {"__type": err.name, "message": err.message}
    return _encode(payload)
