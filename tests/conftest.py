"""Shared fixtures: real servers on free ports, fresh apps per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyehsm.client import Client
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from tests.support.server import InProcessServer, ServerProcess, in_process_server

SMALL_POOL = {"EH_RSA_2048": 1, "EH_EC_P256": 2, "EH_SM2": 2}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `pyehsm serve` subprocess shared by the session (tests enroll their own apps)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    """A freshly enrolled app on the shared server."""
    with server.client() as c:
        yield c


@pytest.fixture
def other_client(server: ServerProcess) -> Iterator[Client]:
    """A second, unrelated app on the same server (tenant isolation tests)."""
    with server.client() as c:
        yield c


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_server(tmp_path: Path, clock: ManualClock) -> Iterator[InProcessServer]:
    """An in-process server whose clock only moves when the test says so."""
    settings = Settings(data_dir=tmp_path / "data", pool_depth=dict(SMALL_POOL))
    with in_process_server(settings, clock) as srv:
        yield srv


@pytest.fixture
def manual_client(manual_server: InProcessServer, clock: ManualClock) -> Iterator[Client]:
    with Client.enroll(manual_server.base, clock=clock) as c:
        yield c
