"""SigV4 verification: the signature is recomputed with botocore's own signer (no hand-written
canonicalizer) from the request's method, path, query, signed headers and body, and compared in constant
time. The access key id is the app's appid; the secret access key its apikey; any region is accepted, but
the credential scope must name the service ``kms`` (a signature made for S3 or STS is not one for KMS).

Time: the X-Amz-Date may be at most 15 minutes from the server's clock, either way (AWS's rule);
otherwise RequestExpired.

Cost (the AWS door's hot path, bench ``encrypt (AWS door)``): botocore builds the canonical request and the
string to sign; two steps around it are done here, by the SigV4 specification: the payload hash is the
SHA-256 of the body computed once (botocore would copy the body through its request preparation to get it),
and the signing key (four HMACs of the secret, the date, region and service) is derived once per secret and
day (``_signing_key``, a bounded cache). X-Amz-Date is parsed by hand (``time.strptime`` cost more than
the whole signature check).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pyehsm.protocols.awskms.errors import AwsError

PAST_MS = 15 * 60 * 1000
FUTURE_MS = 15 * 60 * 1000
ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "kms"
# host, and the operation: a request may be repeated within its window (endpoint.py, Replays), so an unsigned
# X-Amz-Target would let anyone who saw one request send its body again as another operation.
MUST_SIGN = ("host", "x-amz-target")


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
    """Recompute the request's signature with botocore's SigV4Auth and compare in constant time.

    ``headers``: the request's headers, lower-case names (only the signed ones are used). A claimed
    ``X-Amz-Content-SHA256`` must be the body's hash: botocore would sign the claim, not the body."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != body_sha256:
        return False  # UNSIGNED-PAYLOAD included: every body is signed
    signed: dict[str, str] = {}
    for name in auth.signed_headers:
        value = headers.get(name)
        if value is None:
            return False
        signed[name] = value
    url = f"http://{signed['host']}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=signed, data=body)
    request.context["timestamp"] = amz_date
    request.context["payload_sha256"] = body_sha256
    if amz_date[:8] != auth.date:
        return False
    signer = _Signer(Credentials(auth.access_key, secret), auth.service, auth.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected.encode(), auth.signature.encode())


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived signing key: HMAC-SHA256 chained over the date, region, service and "aws4_request"."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class _Signer(SigV4Auth):  # type: ignore[misc]  # botocore has no type hints
    """botocore's SigV4 with the body hash computed once by the caller and the signing key cached."""

    def payload(self, request: Any) -> str:
        return str(request.context["payload_sha256"])

    def signature(self, string_to_sign: str, request: Any) -> str:
        key = _signing_key(
            self.credentials.secret_key, request.context["timestamp"][:8], self._region_name, self._service_name
        )
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
