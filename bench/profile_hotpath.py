"""Profile pyehsm's request path in-process (no sockets):
`python -m bench.profile_hotpath [N] [encrypt|decrypt|generate_data_key|sign|sign_ed25519|random]`.

Drives the /ehsm ASGI app directly with pre-signed Encrypt (Decrypt, GenerateDataKey 32 B, ECDSA P-256
Sign) requests and prints the per-request cost and a cProfile summary, to find what stands between the handler and the
bare-endpoint baseline (or OpenBao's sign rate). ``random`` is Encrypt on a key drawn from RANDOM_KEYS keys
loaded through the bulk path (KeyService.create_many), each used once: every request misses the worker's
key-row and primitive caches (the cache-miss path of bench/keycount.py).
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

from pyehsm.app import open_runtime
from pyehsm.config import Settings
from pyehsm.crypto.keyspecs import KeyUsage, Origin, keyspec
from pyehsm.protocols.ehsm.signing import sign_request

RANDOM_KEYS = 100_000
MESSAGE_32 = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM="
PLAINTEXT_32 = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="
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


async def run(n: int, action: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = await open_runtime(Settings(data_dir=Path(tmp), pool_depth={}))
        appid, apikey = await runtime.services.apps.enroll()
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
        bodies = []
        for i in range(n):
            payload = payload_of(keyids[i % len(keyids)], ciphertext)
            ts = str(now)
            nonce = f"p{i}"
            sign = sign_request(apikey, appid, ts, payload, nonce)
            bodies.append(
                msgspec.json.encode({"appid": appid, "timestamp": ts, "nonce": nonce, "payload": payload, "sign": sign})
            )
        query = f"Action={name}".encode()
        scope = {"type": "http", "method": "POST", "path": "/ehsm", "query_string": query, "headers": []}
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def one(body: bytes) -> None:
            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await runtime.doors["/ehsm"](scope, receive, send)

        await one(bodies[0])
        assert b'"code":200' in sent[-1]["body"], sent[-1]
        started, cpu = time.perf_counter(), time.process_time()
        for body in bodies[1 : n // 2]:
            await one(body)
        plain, cpu = time.perf_counter() - started, time.process_time() - cpu
        count = n // 2 - 1
        print(
            f"{count / plain:,.0f} req/s in-process unprofiled ({plain / count * 1e6:.1f} us/request; "
            f"CPU {cpu / count * 1e6:.1f} us/request, the figure that survives a loaded machine best)"
        )
        bodies = bodies[n // 2 - 1 :]
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for body in bodies[1:]:
            await one(body)
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"profiled: {elapsed / (len(bodies) - 1) * 1e6:.1f} us/request")
        pstats.Stats(profiler).sort_stats(sys.argv[3] if len(sys.argv) > 3 else "cumulative").print_stats(25)
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, sys.argv[2] if len(sys.argv) > 2 else "encrypt"))
