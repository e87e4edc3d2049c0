"""Pre-generated request streams for wrk: every pyehsm request correctly signed and unique (distinct
nonce), so the replay guard stays on and never fires. Line format: METHOD \t PATH \t HEADERS \t BODY."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from pyehsm.protocols.ehsm.signing import sign_request

_encode = msgspec.json.encode


def write_pyehsm_stream(
    path: Path,
    appid: str,
    apikey: str,
    action: str,
    payload_for: Callable[[int], dict[str, Any]],
    count: int,
    nonce_prefix: str = "b",
) -> Path:
    now = int(time.time() * 1000)
    with path.open("w") as out:
        for i in range(count):
            timestamp = str(now + (i % 1000))
            payload = payload_for(i)
            nonce = f"{nonce_prefix}{i}"
            sign = sign_request(apikey, appid, timestamp, payload, nonce)
            body = _encode({"appid": appid, "timestamp": timestamp, "nonce": nonce, "payload": payload, "sign": sign})
            out.write(f"POST\t/ehsm?Action={action}\tContent-Type:application/json\t{body.decode()}\n")
    return path


def sigv4_headers(url: str, appid: str, apikey: str, action: str, body: bytes) -> dict[str, str]:
    """The headers of one AWS KMS request to ``url``, signed now with botocore (valid 15 minutes; the AWS
    door keeps no replay state, as AWS, so the same request may be sent again and again)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{action}"}
    request = AWSRequest(method="POST", url=f"{url}/", data=body, headers=headers)
    SigV4Auth(Credentials(appid, apikey), "kms", "us-east-1").add_auth(request)
    return {**dict(request.headers.items()), "Host": url.split("://", 1)[1]}


def write_sigv4_stream(path: Path, url: str, appid: str, apikey: str, action: str, body: Any, lines: int) -> Path:
    """One SigV4-signed request, ``lines`` times (one per wrk thread); headers "|"-separated (bench/replay.lua)."""
    data = _encode(body)
    headers = sigv4_headers(url, appid, apikey, action, data)
    header_text = "|" + "|".join(f"{k}:{v}" for k, v in headers.items())
    with path.open("w") as out:
        for _ in range(lines):
            out.write(f"POST\t/\t{header_text}\t{data.decode()}\n")
    return path


def write_constant_stream(path: Path, method: str, url_path: str, headers: dict[str, str], body: Any) -> Path:
    header_text = ";".join(f"{k}:{v}" for k, v in headers.items())
    with path.open("w") as out:
        out.write(f"{method}\t{url_path}\t{header_text}\t{_encode(body).decode()}\n")
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
