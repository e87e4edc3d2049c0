"""Profile pyehsm's request path in-process (no sockets):
`python -m bench.profile_hotpath [N] [encrypt|decrypt|generate_data_key|sign|sign_ed25519|random|aws_encrypt|aws_sign]
[sort]`.

Drives the /ehsm ASGI app directly with pre-signed Encrypt (Decrypt, GenerateDataKey 32 B, ECDSA P-256
Sign) requests and prints the per-request cost and a cProfile summary, to find what stands between the handler and the
bare-endpoint baseline (or OpenBao's sign rate). ``aws_encrypt`` and ``aws_sign`` drive the AWS KMS door
(``/``) the same way with SigV4-signed Encrypt and Sign P-256 requests (bench/profile_aws.py). ``random`` is
Encrypt on a key drawn from RANDOM_KEYS keys loaded through the bulk path (KeyService.create_many), each used
once: every request misses the worker's key-row and primitive caches (the cache-miss path of bench/keycount.py).
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from bench import profile_aws
from pyehsm.app import open_runtime
from pyehsm.config import Settings
from pyehsm.crypto.keyspecs import KeyUsage, Origin, keyspec
from pyehsm.protocols.ehsm.signing import sign_request

MESSAGE_32 = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM="
PLAINTEXT_32 = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="
RANDOM_KEYS = 100_000
# scenario -> (Action, keyspec, the payload for a keyid and a ciphertext of 32 bytes under it, base64)
_REQUESTS: dict[str, tuple[str, str, Callable[[str, str], dict[str, Any]]]] = {
    "encrypt": ("Encrypt", "EH_AES_GCM_256", lambda keyid, _: {"keyid": keyid, "plaintext": PLAINTEXT_32}),
    "decrypt": ("Decrypt", "EH_AES_GCM_256", lambda keyid, ct: {"keyid": keyid, "ciphertext": ct}),
    "generate_data_key": ("GenerateDataKey", "EH_AES_GCM_256", lambda keyid, _: {"keyid": keyid, "keylen": 32}),
    "sign": (
        "Sign",
        "EH_EC_P256",
        lambda keyid, _: {"keyid": keyid, "message": MESSAGE_32, "message_type": "EH_RAW", "digest_mode": "EH_SHA_256"},
    ),
    "sign_ed25519": (
        "Sign",
        "EH_ED25519",
        lambda keyid, _: {"keyid": keyid, "message": MESSAGE_32, "message_type": "EH_RAW"},
    ),
}


async def _ehsm_requests(runtime: Any, appid: str, apikey: str, action: str, n: int) -> list[tuple[Any, bytes]]:
    name, spec_name, payload_of = _REQUESTS["encrypt" if action == "random" else action]
    spec = keyspec(spec_name)
    usage = KeyUsage.SIGN_VERIFY if name == "Sign" else None
    record = await runtime.services.keys.create(appid, spec, Origin.INTERNAL, usage)
    keyids = [record.keyid]
    if action == "random":
        keyids = await runtime.services.keys.create_many(appid, spec, max(RANDOM_KEYS, n))
        random.shuffle(keyids)
    ciphertext = ""
    if name == "Decrypt":
        sealed = await runtime.services.symmetric.encrypt(appid, record.keyid, base64.b64decode(PLAINTEXT_32), b"")
        ciphertext = base64.b64encode(sealed).decode()
    now = runtime.services.clock.now_ms()
    query = f"Action={name}".encode()
    scope = {"type": "http", "method": "POST", "path": "/ehsm", "query_string": query, "headers": []}
    out: list[tuple[Any, bytes]] = []
    for i in range(n):
        payload = payload_of(keyids[i % len(keyids)], ciphertext)
        ts = str(now)
        nonce = f"p{i}"
        sign = sign_request(apikey, appid, ts, payload, nonce)
        body = {"appid": appid, "timestamp": ts, "nonce": nonce, "payload": payload, "sign": sign}
        out.append((scope, msgspec.json.encode(body)))
    return out


async def run(n: int, action: str, sort: str = "cumulative") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = await open_runtime(Settings(data_dir=Path(tmp), pool_depth={}))
        appid, apikey = await runtime.services.apps.enroll()
        if action in profile_aws.SCENARIOS:
            requests = await profile_aws.requests(runtime, appid, apikey, action, n)
        else:
            requests = await _ehsm_requests(runtime, appid, apikey, action, n)
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def one(request: tuple[Any, bytes]) -> None:
            scope, body = request

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await runtime.doors[scope["path"]](scope, receive, send)

        await one(requests[0])
        assert sent[-2]["status"] == 200 and b'"code":4' not in sent[-1]["body"], sent[-2:]
        started, cpu = time.perf_counter(), time.process_time()
        for request in requests[1 : n // 2]:
            await one(request)
        plain, cpu = time.perf_counter() - started, time.process_time() - cpu
        count = n // 2 - 1
        print(
            f"{count / plain:,.0f} req/s in-process unprofiled ({plain / count * 1e6:.1f} us/request; "
            f"CPU {cpu / count * 1e6:.1f} us/request, the figure that survives a loaded machine best)"
        )
        requests = requests[n // 2 - 1 :]
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for request in requests[1:]:
            await one(request)
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"profiled: {elapsed / (len(requests) - 1) * 1e6:.1f} us/request")
        pstats.Stats(profiler).sort_stats(sort).print_stats(25)
        await runtime.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 20000, args[1] if len(args) > 1 else "encrypt", *args[2:3]))
