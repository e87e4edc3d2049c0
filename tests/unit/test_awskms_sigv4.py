"""SigV4 verification's two hand-done steps (payload hash once, cached signing key) agree with botocore's own
signer, and X-Amz-Date parsing without strptime keeps its answers."""

from __future__ import annotations

import calendar
import hashlib
import os
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from pyehsm.protocols.awskms import endpoint, sigv4
from pyehsm.protocols.awskms.errors import AwsError


@pytest.mark.parametrize("body", [b"", b"{}", os.urandom(3000)])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_signature_matches_botocore_signed_requests(body: bytes, region: str) -> None:
    headers_in = {"X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/x-amz-json-1.1"}
    for secret in ("secret-one", "secret-two"):
        request = AWSRequest(method="POST", url="http://127.0.0.1:9000/", data=body, headers=headers_in)
        SigV4Auth(Credentials("app", secret), "kms", region).add_auth(request)
        headers = {k.lower(): v for k, v in request.headers.items()} | {"host": "127.0.0.1:9000"}
        auth = sigv4.parse_authorization(headers["authorization"])
        date = headers["x-amz-date"]
        assert sigv4.signature_matches(auth, secret, "POST", "/", "", headers, body, date)
        assert not sigv4.signature_matches(auth, secret + "x", "POST", "/", "", headers, body, date)
        assert not sigv4.signature_matches(auth, secret, "POST", "/", "", headers, body + b" ", date)
        changed = headers | {"x-amz-target": "TrentService.Decrypt"}
        assert not sigv4.signature_matches(auth, secret, "POST", "/", "", changed, body, date)


def test_request_time_parsing() -> None:
    expected = calendar.timegm(time.strptime("20260102T030405Z", "%Y%m%dT%H%M%SZ")) * 1000
    assert sigv4.request_time_ms("20260102T030405Z") == expected
    for bad in (
        "2026-01-02T03:04:05Z",
        "20261302T030405Z",
        "20260102T250405Z",
        "20260102T030405",
        "x" * 16,
        "٢٠٢٦٠١٠٢T030405Z",
    ):
        with pytest.raises(AwsError) as exc:
            sigv4.request_time_ms(bad)
        assert exc.value.name == "IncompleteSignatureException"
    with pytest.raises(AwsError):
        sigv4.request_time_ms(None)


# The fast path (sigv4._Request and _SignedHeaders in place of botocore's AWSRequest and HTTPHeaders) must
# compute exactly the signature botocore's stock SigV4Auth.add_auth puts on the request, for any header set.
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
_EXTRA_NAME = st.one_of(_NAME, st.sampled_from(["User-Agent", "amz-sdk-invocation-id", "Content-Length", "X-Amz-Meta"]))
# header values as an HTTP server hands them over: printable, inner runs of spaces and tabs, no leading or
# trailing whitespace (servers strip it)
_VALUE = st.text(alphabet=" \tabcXYZ019,;=:/+.-_()", max_size=24).map(str.strip)
_RESERVED = {"authorization", "x-amz-date", "host", "x-amz-content-sha256", "x-amz-target", "content-type"}


def _server_view(request: AWSRequest) -> dict[str, str]:
    """The headers as the AWS door's endpoint sees them: its own _headers over the ASGI list."""
    wire = [(b"host", b"127.0.0.1:9000")]
    wire += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.items()]
    return endpoint._headers({"headers": wire})


@settings(max_examples=300, deadline=None)
@given(
    extra=st.lists(st.tuples(_EXTRA_NAME, _VALUE), max_size=6),
    body=st.binary(max_size=600),
    region=st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2"]),
    query=st.sampled_from(["", "a=1", "b=2&a=1", "x=%20y"]),
    content_sha=st.booleans(),
)
def test_fast_path_signature_equals_botocore_add_auth(
    extra: list[tuple[str, str]], body: bytes, region: str, query: str, content_sha: bool
) -> None:
    request = AWSRequest(method="POST", url="http://127.0.0.1:9000/" + (f"?{query}" if query else ""), data=body)
    request.headers["X-Amz-Target"] = "TrentService.Encrypt"
    request.headers["Content-Type"] = "application/x-amz-json-1.1"
    for name, value in extra:  # a name may come twice: HTTPHeaders keeps both copies, as HTTP does
        if name.lower() not in _RESERVED:
            request.headers[name] = value
    if content_sha:
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials("app", "s3cr3t"), "kms", region).add_auth(request)
    headers = _server_view(request)
    auth = sigv4.parse_authorization(headers["authorization"])
    date = headers["x-amz-date"]
    expected = sigv4.expected_signature(auth, "s3cr3t", "POST", "/", query, headers, body, date)
    assert expected == auth.signature
    assert sigv4.signature_matches(auth, "s3cr3t", "POST", "/", query, headers, body, date)
    assert not sigv4.signature_matches(auth, "s3cr3T", "POST", "/", query, headers, body, date)
    assert not sigv4.signature_matches(auth, "s3cr3t", "POST", "/", query, headers, body + b"x", date)
    for name in auth.signed_headers:  # every signed header counts, whichever it is
        if name not in ("x-amz-date", "host"):
            changed = headers | {name: headers[name] + "x"}
            assert not sigv4.signature_matches(auth, "s3cr3t", "POST", "/", query, changed, body, date)


def test_a_signed_header_botocore_never_signs_is_left_out_as_botocore_leaves_it() -> None:
    """A client listing User-Agent in SignedHeaders: botocore's canonical request leaves it out, so the
    signature stays botocore's (computed over the other headers), as with the stock AWSRequest path."""
    request = AWSRequest(method="POST", url="http://127.0.0.1:9000/", data=b"{}")
    request.headers["X-Amz-Target"] = "TrentService.Encrypt"
    request.headers["User-Agent"] = "x"
    SigV4Auth(Credentials("app", "k"), "kms", "us-east-1").add_auth(request)
    headers = _server_view(request)
    auth = sigv4.parse_authorization(headers["authorization"])
    assert "user-agent" not in auth.signed_headers
    listed = sigv4.Authorization(
        auth.access_key, auth.date, auth.region, auth.service, (*auth.signed_headers, "user-agent"), auth.signature
    )
    date = headers["x-amz-date"]
    assert sigv4.expected_signature(listed, "k", "POST", "/", "", headers, b"{}", date) == auth.signature
