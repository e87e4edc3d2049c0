"""The bare-endpoint baseline: a plain Starlette endpoint doing the same request parsing, HMAC check
and AES-256-GCM encryption as pyehsm's Encrypt/Decrypt, with nothing else (no store, no replay
guard, no key lookup, no audit). Two ways to run it: `uvicorn bench.bare:app --workers 2` (stock uvicorn,
the targets' baseline) or `python -m bench.bare --port 8001 --workers 2` (uvicorn with the same protocol
options as `pyehsm serve`, reported beside it).

Credentials come from BARE_APPID / BARE_APIKEY; the AES key is fixed per process start.
"""

from __future__ import annotations

import argparse
import base64
import os

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pyehsm.app import UVICORN_OPTIONS
from pyehsm.protocols.ehsm.signing import signature_matches

APPID = os.environ.get("BARE_APPID", "")
APIKEY = os.environ.get("BARE_APIKEY", "")
_KEY = AESGCM(bytes.fromhex(os.environ.get("BARE_AES_KEY", "00" * 32)))
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _reply(code: int, message: str, result: dict[str, str]) -> Response:
    """The eHSM envelope; a failure also gets an HTTP error status, the one thing wrk counts without a
    Lua callback per response (bench/load.py)."""
    return Response(
        _encoder.encode({"code": code, "message": message, "result": result}),
        status_code=200 if code == 200 else 400,
        media_type="application/json",
    )


async def ehsm(request: Request) -> Response:
    data = _decoder.decode(await request.body())
    params = {"appid": data["appid"], "timestamp": data["timestamp"], "payload": data["payload"]}
    if data.get("nonce"):
        params["nonce"] = data["nonce"]
    if data["appid"] != APPID or not signature_matches(APIKEY, params, data["sign"]):
        return _reply(400, "sign error", {})
    payload = data["payload"]
    aad = base64.b64decode(payload.get("aad", ""))
    if request.query_params.get("Action") == "Decrypt":
        blob = base64.b64decode(payload["ciphertext"])
        pt = _KEY.decrypt(blob[:12], blob[12:], aad)
        return _reply(200, "successful", {"plaintext": base64.b64encode(pt).decode()})
    nonce = os.urandom(12)
    ct = nonce + _KEY.encrypt(nonce, base64.b64decode(payload["plaintext"]), aad)
    return _reply(200, "successful", {"ciphertext": base64.b64encode(ct).decode()})


app = Starlette(routes=[Route("/ehsm", ehsm, methods=["POST"])])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
