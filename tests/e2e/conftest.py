"""Fixtures shared by the end-to-end tests that need their own server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import NO_POOL_ARGS, ServerProcess


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`pyehsm serve --workers 2` on its own data dir (one per test module)."""
    proc = ServerProcess(tmp_path_factory.mktemp("workers") / "data", "--workers", "2", *NO_POOL_ARGS).start()
    try:
        yield proc
    finally:
        proc.stop()
