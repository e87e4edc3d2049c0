"""SigV4 verification: the signature is recomputed with botocore's own signer (no hand-written
canonicalizer) from the request's method, path, query, signed headers and body, and compared in constant
time. The access key id is the app's appid; the secret access key its apikey; any region is accepted, but
the credential scope must name the service ``kms`` (a signature made for S3 or STS is not one for KMS).

Time: the X-Amz-Date may be at most 15 minutes from the server's clock, either way (AWS's rule);
otherwise RequestExpired.

Cost (the AWS door's hot path, bench ``encrypt (AWS door)``): botocore builds the canonical request and the
string to sign (SigV4Auth's canonical_request, canonical_headers, signed_headers, string_to_sign). What is
done around it, by the SigV4 specification: the payload hash is the SHA-256 of the body computed once
(botocore would copy the body through its request preparation to get it); the signing key (four HMACs of
the secret, the date, region and service) is derived once per secret and day (``_signing_key``, a bounded
cache); botocore reads the request from ``_Request``, a small object with the attributes SigV4Auth reads,
and its headers to sign from ``_SignedHeaders``, a dict with ``get_all``: botocore's AWSRequest and its
HTTPHeaders (an ``email.message`` per request) cost more than the rest of the check together. X-Amz-Date
is parsed by hand (``time.strptime`` cost more than the whole signature check). Nothing is cached per
request or per signature: every request's signature is recomputed. tests/unit/test_awskms_sigv4.py pins
the result to botocore's stock ``SigV4Auth.add_auth`` over generated header sets, queries and bodies.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.credentials import Credentials

from pyehsm.protocols.awskms.errors import AwsError

PAST_MS = 15 * 60 * 1000
FUTURE_MS = 15 * 60 * 1000
ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "kms"
# host, and the operation: a request may be repeated within its window (endpoint.py, Replays), so an unsigned
# X-Amz-Target would let anyone who saw one request send its body again as another operation.
MUST_SIGN = ("host", "x-amz-target")
_UNSIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)  # headers botocore leaves out of a signature


@dataclass(frozen=True, slots=True)
class Authorization:
    access_key: str
    date: str  # yyyymmdd of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _incomplete(message: str) -> AwsError:
    return AwsError("IncompleteSignatureException", message)


def parse_authorization(value: str | None) -> Authorization:
    if not value:
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Authorization header requires the {ALGORITHM} algorithm.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, val = part.strip().partition("=")
        if not eq or name in fields:  # nothing ignored, nothing given twice (a second header joins by a comma)
            raise _incomplete("Authorization header must be name=value pairs, each name once.")
        fields[name] = val
    try:
        credential, headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError as exc:
        raise _incomplete(f"Authorization header requires '{exc.args[0]}' parameter.") from None
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        raise _incomplete("Credential must have the form <access key>/<date>/<region>/<service>/aws4_request.")
    if scope[3] != SERVICE:
        raise AwsError("InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'.")
    signed = tuple(headers.split(";"))
    for name in MUST_SIGN:
        if name not in signed:
            raise _incomplete(f"The {name} header must be signed.")
    return Authorization(scope[0], scope[1], scope[2], scope[3], signed, signature)


def claimed_access_key(value: str | None) -> str:
    """The access key id an Authorization header claims, for the audit record of a request that may fail
    authentication: "" when there is none or it is not a plausible id (at most 128 characters of
    letters, digits and ``-_``). Never raises."""
    if not value:
        return ""
    _, _, rest = value.partition(" ")
    for part in rest.split(","):
        name, eq, val = part.strip().partition("=")
        if eq and name == "Credential":
            key = val.split("/", 1)[0]
            return key if _ACCESS_KEY.fullmatch(key) else ""
    return ""


_ACCESS_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


def request_time_ms(amz_date: str | None) -> int:
    """Milliseconds since the epoch of an X-Amz-Date value (yyyymmddThhmmssZ)."""
    if not amz_date:
        raise _incomplete("Authorization requires the X-Amz-Date header.")
    return _parse_amz_date(amz_date)


@functools.lru_cache(maxsize=256)
def _parse_amz_date(amz_date: str) -> int:
    match = _AMZ_DATE.fullmatch(amz_date)
    if match is None:
        raise _incomplete("X-Amz-Date must have the form yyyymmddThhmmssZ.")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise _incomplete("X-Amz-Date must have the form yyyymmddThhmmssZ.")
    try:
        return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * 1000
    except (ValueError, OverflowError):  # pragma: no cover - the ranges above keep timegm in range
        raise _incomplete("X-Amz-Date must have the form yyyymmddThhmmssZ.") from None


def check_time(request_ms: int, now_ms: int, amz_date: str) -> None:
    if request_ms < now_ms - PAST_MS or request_ms > now_ms + FUTURE_MS:
        raise AwsError(
            "RequestExpired",
            f"Signature expired: {amz_date} is outside the accepted window "
            "(15 minutes either side of the server's time).",
        )


def signature_matches(
    auth: Authorization,
    secret: str,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    amz_date: str,
) -> bool:
    """Recompute the request's signature with botocore's SigV4Auth and compare it in constant time."""
    expected = expected_signature(auth, secret, method, path, query, headers, body, amz_date)
    return expected is not None and hmac.compare_digest(expected.encode(), auth.signature.encode())


def expected_signature(
    auth: Authorization,
    secret: str,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    amz_date: str,
) -> str | None:
    """The signature botocore's SigV4Auth computes for the request (its canonical_request, string_to_sign
    and signature), or None when it cannot match: a signed header missing, a credential date other than
    X-Amz-Date's, or a claimed ``X-Amz-Content-SHA256`` that is not the body's hash (botocore would sign
    the claim, not the body; UNSIGNED-PAYLOAD included: every body is signed).

    ``headers``: the request's headers, lower-case names, a repeated header's values joined by commas
    (endpoint.py ``_headers``); only the signed ones are used."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != body_sha256:
        return None
    signed: dict[str, str] = {}
    for name in auth.signed_headers:
        value = headers.get(name)
        if value is None:
            return None
        signed[name] = value
    if amz_date[:8] != auth.date:
        return None
    url = f"http://{signed['host']}{path}" + (f"?{query}" if query else "")
    request = _Request(method, url, signed, body, {"timestamp": amz_date, "payload_sha256": body_sha256})
    signer = _signer(auth.access_key, secret, auth.service, auth.region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


@functools.lru_cache(maxsize=1024)
def _signer(access_key: str, secret: str, service: str, region: str) -> _Signer:
    """One botocore signer per credential and scope (it holds no per-request state)."""
    return _Signer(Credentials(access_key, secret), service, region)


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived signing key: HMAC-SHA256 chained over the date, region, service and "aws4_request"."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class _Signer(SigV4Auth):  # type: ignore[misc]  # botocore has no type hints
    """botocore's SigV4 with the body hash computed once by the caller, the signing key cached, and the
    headers to sign handed over in a plain mapping (``_SignedHeaders``) rather than botocore's
    email.message-based HTTPHeaders: botocore's own canonical_headers and signed_headers read it."""

    def headers_to_sign(self, request: Any) -> _SignedHeaders:
        # SigV4Auth.headers_to_sign, with the names already lower-case and "host" always among them
        # (parse_authorization insists it is signed)
        return _SignedHeaders((name, value) for name, value in request.headers.items() if name not in _UNSIGNED)

    def payload(self, request: Any) -> str:
        return str(request.context["payload_sha256"])

    def signature(self, string_to_sign: str, request: Any) -> str:
        key = _signing_key(
            self.credentials.secret_key, request.context["timestamp"][:8], self._region_name, self._service_name
        )
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class _SignedHeaders(dict[str, str]):
    """The headers to sign as botocore's canonical_headers reads them: names (iteration) and ``get_all``. A
    header sent more than once arrives joined by commas (endpoint.py ``_headers``), which is the value
    canonical_headers would build from its copies."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _Headers:
    """A request's headers (lower-case names) as botocore's SigV4Auth reads them: ``items()``, and a
    case-insensitive ``in`` and ``[]`` (canonical_request asks for X-Amz-Content-SHA256)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def items(self) -> Any:
        return self._values.items()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]


class _Request:
    """What SigV4Auth's canonical_request, string_to_sign and signature read of botocore's AWSRequest (the
    method, URL, params, headers, body and context), without AWSRequest's preparation of the body and its
    HTTPHeaders (an email.message per request)."""

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes, context: dict[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = _Headers(headers)
        self.body = body
        self.params: dict[str, str] = {}
        self.context = context
