"""One function per scenario row of the performance issue. Servers are shared across scenarios of one
run (started on first use) so every ratio compares measurements taken minutes apart on the same box."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench import multinode, procs
from bench.streams import b64, write_constant_stream, write_pyehsm_stream
from pyehsm.client import Client
from pyehsm.config import DEFAULT_POOL_DEPTH
from pyehsm.crypto.keyspecs import ASYMMETRIC_KEYSPEC_NAMES, KEYSPEC_NAMES

CONNECTIONS = 32
NO_POOL = ",".join(f"{spec}=0" for spec in DEFAULT_POOL_DEPTH)
THREADS = 2
MAX_RPS_GUESS = 25_000
WARMUP_SECONDS = 2.0
Result = dict[str, Any]


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    note: str = ""


@dataclass
class BenchEnv:
    wrk_path: str
    duration: float
    quick: bool
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pyehsm-bench-")))
    _cache: dict[str, Any] = field(default_factory=dict)
    _measurements: dict[str, Measurement] = field(default_factory=dict)
    bare_key: bytes = field(default_factory=lambda: os.urandom(32))

    def once(self, name: str, measure: Callable[[], Measurement]) -> Measurement:
        """A measurement taken once per run and reused by every row that compares against it."""
        if name not in self._measurements:
            self._measurements[name] = measure()
        return self._measurements[name]

    def shared(self, name: str, factory: Callable[[], contextlib.AbstractContextManager[Any]]) -> Any:
        if name not in self._cache:
            self._cache[name] = self.stack.enter_context(factory())
        return self._cache[name]

    # -- servers ---------------------------------------------------------------------------------
    def pyehsm_client(self) -> Client:
        # no background key-pair generation competing with the measurements (create_key has its own server)
        base = self.shared("pyehsm", lambda: procs.pyehsm(workers=2, extra=["--pool-depth", NO_POOL]))
        return self.shared("pyehsm-client", lambda: contextlib.nullcontext(Client.enroll(base)))  # type: ignore[no-any-return]

    def bare_url(self, stock: bool = True) -> str:
        """The bare endpoint on stock uvicorn (the target's baseline) or on pyehsm's HTTP protocol."""
        c = self.pyehsm_client()
        name = "bare" if stock else "bare-pyehsm-protocol"
        return self.shared(name, lambda: procs.bare(c.appid, c.apikey, self.bare_key, stock))  # type: ignore[no-any-return]

    def bao(self) -> str | None:
        return self.shared("bao", procs.openbao)  # type: ignore[no-any-return]

    def moto(self) -> str | None:
        return self.shared("moto", procs.moto)  # type: ignore[no-any-return]

    # -- load --------------------------------------------------------------------------------------
    def wrk(self, url: str, stream: Path, marker: str, seconds: float | None = None) -> Measurement:
        cmd = [
            self.wrk_path,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{int(seconds or self.duration)}s",
            "--timeout",
            "10s",
            "-s",
            str(procs.BENCH_DIR / "replay.lua"),
            url,
            "--",
            str(stream),
            marker,
            str(THREADS),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(x for x in reversed(out.splitlines()) if x.startswith("{"))
        data = json.loads(line)
        seconds = data["duration_us"] / 1e6
        errors = int(data["errors"]) + int(data["socket_errors"])
        note = "request stream exhausted (raise MAX_RPS_GUESS)" if data["exhausted"] == "true" else ""
        return Measurement(data["requests"] / seconds, data["p50_us"] / 1000, data["p99_us"] / 1000, errors, note)

    def signed_load(
        self, url: str, c: Client, action: str, payload_for: Callable[[int], dict[str, Any]], name: str
    ) -> Measurement:
        """Warm the server up with its own stream, then measure with a fresh one (never a repeated request)."""
        for prefix, seconds in (("w", WARMUP_SECONDS), ("m", self.duration)):
            count = int(MAX_RPS_GUESS * seconds * 1.3)
            stream = write_pyehsm_stream(
                self.workdir / f"{name}-{prefix}.txt", c.appid, c.apikey, action, payload_for, count, prefix
            )
            try:
                measured = self.wrk(url, stream, '"code":200', seconds)
            finally:
                stream.unlink()
        return measured

    def pyehsm_load(self, action: str, payload_for: Callable[[int], dict[str, Any]]) -> Measurement:
        c = self.pyehsm_client()
        return self.signed_load(c.base_url.removesuffix("/ehsm"), c, action, payload_for, action)

    def bao_load(self, path: str, body: dict[str, Any]) -> Measurement | None:
        addr = self.bao()
        if addr is None:
            return None
        stream = write_constant_stream(
            self.workdir / "bao.txt",
            "POST",
            path,
            {"X-Vault-Token": procs.BAO_TOKEN, "Content-Type": "application/json"},
            body,
        )
        self.wrk(addr, stream, '"data"', WARMUP_SECONDS)
        return self.wrk(addr, stream, '"data"')


def moto_load(env: BenchEnv, action: str, body: dict[str, Any], marker: str) -> Measurement | None:
    """moto's KMS answering one constant request (moto keeps no replay state: the same body is fine)."""
    addr = env.moto()
    if addr is None:
        return None
    headers = {**procs.MOTO_HEADERS, "X-Amz-Target": f"TrentService.{action}"}
    stream = write_constant_stream(env.workdir / "moto.txt", "POST", "/", headers, body)
    env.wrk(addr, stream, f'"{marker}"', WARMUP_SECONDS)
    return env.wrk(addr, stream, f'"{marker}"')


def _moto_key(env: BenchEnv, spec: str, usage: str) -> str | None:
    addr = env.moto()
    if addr is None:
        return None
    created = procs.moto_call(addr, "CreateKey", {"KeySpec": spec, "KeyUsage": usage})
    return str(created["KeyMetadata"]["KeyId"])  # type: ignore[index]


def _moto_rows(name: str, mine: Measurement, moto: Measurement | None) -> Iterator[Result]:
    """moto's KMS as a third column where it applies: reported, no target (it is a test double)."""
    if moto is not None:
        yield _row(name, mine, "moto kms", moto, 0.0, "report")


def _row(
    name: str, mine: Measurement, peer: str, peer_m: Measurement | float | None, target: float, target_text: str
) -> Result:
    if peer_m is None:
        return {
            "scenario": name,
            "pyehsm_rps": mine.rps,
            "p50_ms": mine.p50_ms,
            "p99_ms": mine.p99_ms,
            "peer": peer,
            "peer_rps": 0.0,
            "ratio": 0.0,
            "target": target_text,
            "met": False,
            "errors": mine.errors,
            "note": f"{peer} not available on this machine",
        }
    peer_rps = peer_m if isinstance(peer_m, float) else peer_m.rps
    peer_errors = 0 if isinstance(peer_m, float) else peer_m.errors
    peer_p99 = 0.0 if isinstance(peer_m, float) else peer_m.p99_ms
    ratio = mine.rps / peer_rps if peer_rps else 0.0
    return {
        "scenario": name,
        "pyehsm_rps": mine.rps,
        "p50_ms": mine.p50_ms,
        "p99_ms": mine.p99_ms,
        "peer": peer,
        "peer_rps": peer_rps,
        "peer_p99_ms": peer_p99,
        "ratio": ratio,
        "target": target_text,
        "met": ratio >= target and mine.errors == 0 and peer_errors == 0,
        "errors": mine.errors + peer_errors,
        "note": mine.note,
    }


# -- symmetric -------------------------------------------------------------------------------------
PLAINTEXT_32 = b64(b"\x5a" * 32)


def _encrypt(env: BenchEnv) -> Measurement:
    def measure() -> Measurement:
        keyid = env.pyehsm_client().create_key("EH_AES_GCM_256")
        return env.pyehsm_load("Encrypt", lambda _: {"keyid": keyid, "plaintext": PLAINTEXT_32})

    return env.once("encrypt", measure)


def _bare_stream(env: BenchEnv, action: str, payload: dict[str, Any], stock: bool = True) -> Measurement:
    url = env.bare_url(stock)
    return env.signed_load(url.removesuffix("/ehsm"), env.pyehsm_client(), action, lambda _: payload, f"bare-{action}")


def _bare_rows(env: BenchEnv, name: str, mine: Measurement, action: str, payload: dict[str, Any]) -> Iterator[Result]:
    """The target's bare endpoint (stock uvicorn), then the same endpoint on pyehsm's own HTTP protocol
    (one write per response), reported without a target: pyehsm's cost above the endpoint alone."""
    stock = env.once(f"bare-{action}", lambda: _bare_stream(env, action, payload))
    yield _row(name, mine, "bare starlette", stock, 0.85, ">= 0.85x bare")
    same_protocol = _bare_stream(env, action, payload, stock=False)
    yield _row(name, mine, "bare, pyehsm protocol", same_protocol, 0.0, "report")


BARE_ENCRYPT = {"keyid": "bare", "plaintext": PLAINTEXT_32}


def _bare_encrypt(env: BenchEnv) -> Measurement:
    return env.once("bare-Encrypt", lambda: _bare_stream(env, "Encrypt", BARE_ENCRYPT))


def encrypt(env: BenchEnv) -> Iterator[Result]:
    """Encrypt AES-256-GCM 32 B vs the bare endpoint (>= 0.85) and OpenBao transit (>= 1.3)."""
    mine = _encrypt(env)
    yield from _bare_rows(env, "encrypt", mine, "Encrypt", BARE_ENCRYPT)
    bao = env.bao_load("/v1/transit/encrypt/aes", {"plaintext": PLAINTEXT_32})
    yield _row("encrypt", mine, "openbao transit", bao, 1.3, ">= 1.3x openbao")
    keyid = _moto_key(env, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    moto = moto_load(env, "Encrypt", {"KeyId": keyid, "Plaintext": PLAINTEXT_32}, "CiphertextBlob") if keyid else None
    yield from _moto_rows("encrypt", mine, moto)


def _decrypt(env: BenchEnv) -> Measurement:
    def measure() -> Measurement:
        c = env.pyehsm_client()
        keyid = c.create_key("EH_AES_GCM_256")
        ct = b64(c.encrypt(keyid, b"\x5a" * 32))
        return env.pyehsm_load("Decrypt", lambda _: {"keyid": keyid, "ciphertext": ct})

    return env.once("decrypt", measure)


def _generate_data_key(env: BenchEnv) -> Measurement:
    def measure() -> Measurement:
        keyid = env.pyehsm_client().create_key("EH_AES_GCM_256")
        return env.pyehsm_load("GenerateDataKey", lambda _: {"keyid": keyid, "keylen": 32})

    return env.once("generate_data_key", measure)


def decrypt(env: BenchEnv) -> Iterator[Result]:
    """Decrypt AES-256-GCM 32 B vs the bare endpoint (>= 0.85) and OpenBao transit (>= 1.3)."""
    mine = _decrypt(env)
    # the bare endpoint's key comes from its environment; it decrypts a blob made with that key
    nonce = os.urandom(12)
    bare_ct = b64(nonce + AESGCM(env.bare_key).encrypt(nonce, b"\x5a" * 32, b""))
    yield from _bare_rows(env, "decrypt", mine, "Decrypt", {"keyid": "bare", "ciphertext": bare_ct})
    addr = env.bao()
    bao = None
    if addr is not None:
        r = httpx.post(
            f"{addr}/v1/transit/encrypt/aes",
            json={"plaintext": PLAINTEXT_32},
            headers={"X-Vault-Token": procs.BAO_TOKEN},
        )
        bao = env.bao_load("/v1/transit/decrypt/aes", {"ciphertext": r.json()["data"]["ciphertext"]})
    yield _row("decrypt", mine, "openbao transit", bao, 1.3, ">= 1.3x openbao")
    keyid, moto = _moto_key(env, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), None
    if keyid is not None:
        sealed = procs.moto_call(str(env.moto()), "Encrypt", {"KeyId": keyid, "Plaintext": PLAINTEXT_32})
        moto = moto_load(env, "Decrypt", {"CiphertextBlob": sealed["CiphertextBlob"]}, "Plaintext")
    yield from _moto_rows("decrypt", mine, moto)


def generate_data_key(env: BenchEnv) -> Iterator[Result]:
    """GenerateDataKey 32 B vs pyehsm's own Encrypt rate in this run (>= 0.8)."""
    mine = _generate_data_key(env)
    yield _row("generate_data_key", mine, "pyehsm encrypt", _encrypt(env), 0.8, ">= 0.8x encrypt")


def symmetric_p99(env: BenchEnv) -> Iterator[Result]:
    """p99 latency of every symmetric action at 32 connections (< 10 ms), the bare endpoint's beside it."""
    bare = _bare_encrypt(env)
    for action, measure in (("Encrypt", _encrypt), ("Decrypt", _decrypt), ("GenerateDataKey", _generate_data_key)):
        mine = measure(env)
        yield {
            "scenario": f"symmetric_p99 {action}",
            "pyehsm_rps": mine.rps,
            "p50_ms": mine.p50_ms,
            "p99_ms": mine.p99_ms,
            "peer": "-",
            "peer_rps": 0.0,
            "ratio": 0.0,
            "target": "p99 < 10 ms",
            "met": mine.p99_ms < 10 and mine.errors == 0,
            "errors": mine.errors,
            "note": f"{action} at 32 connections; the bare endpoint's Encrypt p99 in this run: {bare.p99_ms:.2f} ms",
        }


# -- asymmetric ------------------------------------------------------------------------------------
MESSAGE_32 = b64(b"\x33" * 32)


def _sign_load(env: BenchEnv, keyspec: str, padding_mode: str) -> Measurement:
    c = env.pyehsm_client()
    keyid = c.create_key(keyspec, keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    payload = {
        "keyid": keyid,
        "message": MESSAGE_32,
        "message_type": "EH_RAW",
        "digest_mode": "EH_SHA_256",
        "padding_mode": padding_mode,
    }
    return env.pyehsm_load("Sign", lambda _: payload)


def sign_p256(env: BenchEnv) -> Iterator[Result]:
    """Sign ECDSA P-256 (SHA-256, raw 32 B message) vs OpenBao transit sign ecdsa-p256 (>= 1.5)."""
    mine = _sign_load(env, "EH_EC_P256", "EH_PAD_NONE")
    bao = env.bao_load("/v1/transit/sign/p256", {"input": MESSAGE_32})
    yield _row("sign_p256", mine, "openbao transit", bao, 1.5, ">= 1.5x openbao")
    keyid = _moto_key(env, "ECC_NIST_P256", "SIGN_VERIFY")
    body = {"KeyId": keyid, "Message": MESSAGE_32, "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"}
    yield from _moto_rows("sign_p256", mine, moto_load(env, "Sign", body, "Signature") if keyid else None)


def _raw_rsa_worker(seconds: float, queue: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        key.sign(b"\x33" * 32, padding.PKCS1v15(), hashes.SHA256())
        n += 1
    queue.put(n)


def raw_rsa3072_rate(seconds: float) -> float:
    """Signatures per second of `cryptography` alone, one process per core."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_raw_rsa_worker, args=(seconds, queue)) for _ in range(os.cpu_count() or 1)]
    for w in workers:
        w.start()
    total: float = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


def sign_rsa3072(env: BenchEnv) -> Iterator[Result]:
    """Sign RSA-3072 PKCS#1 v1.5 SHA-256 vs the raw `cryptography` signing rate on the same cores (>= 0.8)."""
    mine = _sign_load(env, "EH_RSA_3072", "EH_RSA_PKCS1")
    raw = raw_rsa3072_rate(env.duration)
    yield _row("sign_rsa3072", mine, "raw cryptography", raw, 0.8, ">= 0.8x raw")


# -- CreateKey -------------------------------------------------------------------------------------
def create_key(env: BenchEnv) -> Iterator[Result]:
    """CreateKey latency per keyspec, sequential client, pairs pre-generated by the pool (p50 < 5, p99 < 50 ms)."""
    per_spec = 10 if env.quick else 30
    depth = ",".join(f"{spec}={per_spec}" for spec in ASYMMETRIC_KEYSPEC_NAMES)
    with procs.pyehsm(workers=1, extra=["--pool-depth", depth]) as base, Client.enroll(base) as c:
        _wait_pool_full(base, per_spec, len(ASYMMETRIC_KEYSPEC_NAMES))
        for spec in KEYSPEC_NAMES:
            latencies = []
            for _ in range(per_spec):
                started = time.perf_counter()
                c.create_key(spec)
                latencies.append((time.perf_counter() - started) * 1000)
            latencies.sort()
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            yield {
                "scenario": f"create_key {spec}",
                "pyehsm_rps": 1000 / statistics.mean(latencies),
                "p50_ms": p50,
                "p99_ms": p99,
                "peer": "-",
                "peer_rps": 0.0,
                "ratio": 0.0,
                "target": "p50 < 5, p99 < 50 ms",
                "met": p50 < 5 and p99 < 50,
                "errors": 0,
                "note": "",
            }


def _wait_pool_full(base: str, per_spec: int, specs: int, timeout: float = 900) -> None:
    """Wait until the pool reports full depth on /metrics (the pool refills off the event loop)."""
    url = base.removesuffix("/ehsm") + "/metrics"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(url).text
        depths = [
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("pyehsm_key_pool_depth{")
        ]
        if len(depths) >= specs and sum(depths) >= per_spec * specs:
            return
        time.sleep(1)
    raise TimeoutError("key pool did not fill")


SCENARIOS: dict[str, Callable[[BenchEnv], Iterator[Result]]] = {
    "encrypt": encrypt,
    "decrypt": decrypt,
    "sign_p256": sign_p256,
    "sign_rsa3072": sign_rsa3072,
    "create_key": create_key,
    "generate_data_key": generate_data_key,
    "symmetric_p99": symmetric_p99,
    "scale_out": multinode.scale_out,
}
