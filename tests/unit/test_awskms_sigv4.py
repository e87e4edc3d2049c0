"""SigV4 verification's two hand-done steps (payload hash once, cached signing key) agree with botocore's own
signer, and X-Amz-Date parsing without strptime keeps its answers."""

from __future__ import annotations

import calendar
import os
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pyehsm.protocols.awskms import sigv4
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
