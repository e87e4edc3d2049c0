"""AWS-door requests for ``bench.profile_hotpath`` (``aws_encrypt``, ``aws_sign``): each one signed with
botocore's SigV4Auth as boto3 signs (Content-Type, X-Amz-Target, Host, X-Amz-Date; User-Agent and the
amz-sdk-* headers sent but, as in boto3, User-Agent unsigned), every request different (its own plaintext
or message), so no cache keyed on a request could answer it."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import msgspec
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pyehsm.crypto.keyspecs import KeyUsage, Origin, keyspec

HOST = "127.0.0.1:9000"
# scenario -> (operation, eHSM keyspec, key usage, the body for a key id and the request's index)
SCENARIOS: dict[str, tuple[str, str, KeyUsage | None]] = {
    "aws_encrypt": ("Encrypt", "EH_AES_GCM_256", None),
    "aws_sign": ("Sign", "EH_EC_P256", KeyUsage.SIGN_VERIFY),
}


def _body(operation: str, keyid: str, i: int) -> dict[str, Any]:
    data = base64.b64encode(i.to_bytes(32, "big")).decode()
    if operation == "Encrypt":
        return {"KeyId": keyid, "Plaintext": data}
    return {"KeyId": keyid, "Message": data, "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"}


def signed_request(appid: str, apikey: str, operation: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """One request as the AWS door's ASGI scope and body."""
    headers = {
        "X-Amz-Target": f"TrentService.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
        "User-Agent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.12",
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": "attempt=1; max=3",
        "Content-Length": str(len(body)),
    }
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers=headers)
    SigV4Auth(Credentials(appid, apikey), "kms", "us-east-1").add_auth(request)
    wire = [(b"host", HOST.encode())]
    wire += [(name.lower().encode(), str(value).encode()) for name, value in request.headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"", "headers": wire}
    return scope, body


async def requests(runtime: Any, appid: str, apikey: str, scenario: str, n: int) -> list[tuple[dict[str, Any], bytes]]:
    operation, spec_name, usage = SCENARIOS[scenario]
    record = await runtime.services.keys.create(appid, keyspec(spec_name), Origin.INTERNAL, usage)
    encode = msgspec.json.encode
    return [signed_request(appid, apikey, operation, encode(_body(operation, record.keyid, i))) for i in range(n)]
