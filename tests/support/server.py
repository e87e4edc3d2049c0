"""Real pyehsm servers for end-to-end tests: a subprocess (`pyehsm serve`) or an in-process uvicorn
thread (when a test needs to inject a clock). Both speak real HTTP on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn

from pyehsm.app import UVICORN_OPTIONS, build_app
from pyehsm.client import Client
from pyehsm.clock import Clock
from pyehsm.config import DEFAULT_POOL_DEPTH, DEFAULT_REPLAY_CAPACITY, Settings

# No background key-pair generation, for servers that only need a few keys quickly.
# Test servers use a 64 KiB replay table rather than the default 256 MiB file (the suite starts many
# servers, each with a data dir of its own); the default size is what the benchmarks run with.
TEST_REPLAY_CAPACITY = 4096
NO_POOL = ",".join(f"{name}=0" for name in DEFAULT_POOL_DEPTH)  # PYEHSM_POOL_DEPTH / --pool-depth value
NO_POOL_ARGS = ("--pool-depth", NO_POOL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not become ready")


class ServerProcess:
    """`python -m pyehsm serve` in a subprocess; logs go to data_dir/server.log."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.env = {**os.environ, "PYEHSM_REPLAY_CAPACITY": str(TEST_REPLAY_CAPACITY), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.url}/ehsm"

    def start(self, wait: bool = True) -> ServerProcess:
        cmd = [sys.executable, "-m", "pyehsm", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([*cmd, *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        if wait:
            wait_healthy(self.url, proc=self.proc)
        return self

    def run_to_exit(self, timeout: float = 60) -> tuple[int, str]:
        """Start and wait for the process to exit by itself (startup refusals); returns (code, output)."""
        self.start(wait=False)
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        return code, self.log_path.read_text()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> Client:
        return Client.enroll(self.base, **kwargs)  # type: ignore[arg-type]


class InProcessServer:
    """uvicorn serving build_app(settings, clock) in a thread: real HTTP, injectable clock."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.port = free_port()
        if settings.replay_capacity == DEFAULT_REPLAY_CAPACITY:
            settings = dataclasses.replace(settings, replay_capacity=TEST_REPLAY_CAPACITY)
        self.settings = settings
        self.app = build_app(settings, clock)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", **UVICORN_OPTIONS)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.url}/ehsm"

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.app.state.holder.runtime

    def start(self) -> InProcessServer:
        self.thread.start()
        wait_healthy(self.url)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def in_process_server(settings: Settings, clock: Clock | None = None) -> Iterator[InProcessServer]:
    server = InProcessServer(settings, clock).start()
    try:
        yield server
    finally:
        server.stop()


AuditLine = dict[str, Any]


def audit_lines_once(path: Path, seen: Callable[[AuditLine], bool], timeout: float = 30.0) -> list[AuditLine]:
    """The audit log's lines, once one of them satisfies ``seen``.

    The server writes a request's audit line at the start of the event-loop turn after its response
    (a group commit), so a client that reads the file right after its last response can be early.
    """
    deadline = time.monotonic() + timeout
    while True:
        lines = [msgspec.json.decode(line) for line in path.read_bytes().splitlines()]
        if any(seen(entry) for entry in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)
