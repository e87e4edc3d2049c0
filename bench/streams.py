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


def write_constant_stream(path: Path, method: str, url_path: str, headers: dict[str, str], body: Any) -> Path:
    header_text = ";".join(f"{k}:{v}" for k, v in headers.items())
    with path.open("w") as out:
        out.write(f"{method}\t{url_path}\t{header_text}\t{_encode(body).decode()}\n")
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
