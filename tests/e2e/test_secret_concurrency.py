"""Issue 18 item 6: concurrent PutSecretValue on one secret all succeed, on SQLite and PostgreSQL, with
two worker processes (writers queue on the secret's row; PostgreSQL used to refuse about a quarter of
them with "changed by another request")."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pyehsm.client import Client
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL_ARGS, ServerProcess

THREADS = 8
WRITES = 10


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(f"puts-{request.param}") / "data"
    args = ("--workers", "2", *NO_POOL_ARGS)
    if request.param == "sqlite":
        proc = ServerProcess(data, *args).start()
        try:
            yield proc
        finally:
            proc.stop()
        return
    with fresh_database() as url:
        proc = ServerProcess(data, "--store", url, *args).start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.mark.parametrize("cmk", [False, True], ids=["default-key", "cmk"])
def test_concurrent_puts_on_one_secret_all_succeed(node: ServerProcess, cmk: bool) -> None:
    with node.client() as owner:
        keyid = owner.create_key("EH_AES_GCM_256") if cmk else None
        owner.create_secret("shared", "v0", encryption_key_id=keyid)
        barrier = threading.Barrier(THREADS)
        failures: list[BaseException] = []

        def writer(t: int) -> None:
            with Client(node.base, owner.appid, owner.apikey) as c:
                barrier.wait()
                for w in range(WRITES):
                    try:
                        c.put_secret_value("shared", f"t{t}-w{w}")
                    except BaseException as exc:  # collected: every write must succeed
                        failures.append(exc)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        versions = owner.list_secret_version_ids("shared")
        ids = sorted(v.version_id for v in versions.versions)
        assert ids == list(range(1, THREADS * WRITES + 2))  # every version exactly once, no gap
        values = [owner.get_secret_value("shared", n).secret_data for n in ids]
        assert sorted(values) == sorted(["v0"] + [f"t{t}-w{w}" for t in range(THREADS) for w in range(WRITES)])
        assert owner.get_secret_value("shared").version_id == THREADS * WRITES + 1
