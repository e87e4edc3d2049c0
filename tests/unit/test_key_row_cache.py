"""The per-worker key-row cache of SqliteStore and the request fast path above it.

A worker answers key lookups from memory; a change committed through any other connection (another
worker: another process) must be seen by the very next lookup. The WAL-index header mapped by
WalIndexWatch tells that without a read transaction; PRAGMA data_version is the fallback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyehsm.app import Runtime, open_runtime
from pyehsm.config import Settings
from pyehsm.crypto.keyspecs import KEYSPECS, Operation, Origin, keyspec
from pyehsm.keyring.keyring import PrimitiveCache
from pyehsm.services import keys as key_service
from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord
from pyehsm.store.sqlite import SqliteStore, WalIndexWatch
from tests.support.ehsm import ehsm_raises

APP = "8b4c1b8e-6f2a-4c1e-9d3b-2f0e5a7c9d10"
KEY = "2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e2f"
LINUX = sys.platform == "linux"


def _record(state: KeyState = KeyState.ENABLED) -> KeyRecord:
    return KeyRecord(APP, KEY, "EH_AES_GCM_256", "EH_INTERNAL_KEY", "EH_KEYUSAGE_ENCRYPT_DECRYPT", state, "", 1, 2, 1)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two stores (two connections) on one database file, the first with a cached enabled key row."""
    a, b = SqliteStore(tmp_path / "pyehsm.db"), SqliteStore(tmp_path / "pyehsm.db")
    await a.open()
    await b.open()
    try:
        await a.insert_app(AppRecord(APP, b"wrapped apikey", 1))
        await a.insert_key(_record(), KeyVersionRecord(KEY, 1, b"wrapped", 1))
        assert (await a.get_key(APP, KEY)) is not None
        assert a.cached_key(APP, KEY) is not None  # cached now
        yield a, b
    finally:
        await b.close()
        await a.close()


def _set_state_in_another_process(db: Path, state: KeyState) -> None:
    """Another worker: its own interpreter, its own SQLite connection."""
    code = f"""
        import asyncio
        from pathlib import Path
        from pyehsm.store.records import KeyState
        from pyehsm.store.sqlite import SqliteStore

        async def main():
            store = SqliteStore(Path({str(db)!r}))
            await store.open()
            assert await store.set_key_state({APP!r}, {KEY!r}, KeyState({state.value!r}))
            await store.close()

        asyncio.run(main())
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, timeout=60)


@pytest.mark.skipif(not LINUX, reason="the WAL-index header is mapped on Linux only")
async def test_the_wal_index_header_is_mapped_on_linux(stores: tuple[SqliteStore, SqliteStore]) -> None:
    a, _ = stores
    assert a._wal is not None
    assert a._wal.header() is not None


async def test_a_key_disabled_through_another_connection_is_refused_on_the_next_lookup(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, b = stores
    assert await b.set_key_state(APP, KEY, KeyState.DISABLED)
    assert a.cached_key(APP, KEY) is None  # the cache saw the commit
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.DISABLED
    assert await b.set_key_state(APP, KEY, KeyState.ENABLED)
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.ENABLED


async def test_a_key_deleted_through_another_connection_is_gone_on_the_next_lookup(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, b = stores
    assert await b.delete_key(APP, KEY)
    assert a.cached_key(APP, KEY) is None
    assert await a.get_key(APP, KEY) is None


async def test_a_key_disabled_by_another_process_is_refused_on_the_next_lookup(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    a, _ = stores
    _set_state_in_another_process(a.path, KeyState.DISABLED)
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.DISABLED
    _set_state_in_another_process(a.path, KeyState.ENABLED)
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.ENABLED


async def test_checkpoints_only_make_the_cache_reload(stores: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = stores
    for mode in ("PASSIVE", "TRUNCATE", "RESTART"):
        b.conn.execute(f"PRAGMA wal_checkpoint({mode})")
        record = await a.get_key(APP, KEY)
        assert record is not None and record.state is KeyState.ENABLED
    assert await b.set_key_state(APP, KEY, KeyState.DISABLED)  # the first commit into a restarted WAL
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.DISABLED


@pytest.mark.parametrize("header", ["unmapped", "being-written"])
async def test_without_a_readable_header_data_version_still_sees_other_writers(
    stores: tuple[SqliteStore, SqliteStore], monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    a, b = stores
    if header == "unmapped":
        monkeypatch.setattr(a, "_wal", None)
    else:
        if a._wal is None:
            pytest.skip("no mapped header on this platform")
        monkeypatch.setattr(a._wal, "header", lambda: None)
    assert (await a.get_key(APP, KEY)) is not None
    assert a.cached_key(APP, KEY) is not None  # the data_version stamp keeps the row cached...
    assert await b.set_key_state(APP, KEY, KeyState.DISABLED)
    assert a.cached_key(APP, KEY) is None  # ...until another connection commits
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.DISABLED


async def test_own_writes_reach_the_cache(stores: tuple[SqliteStore, SqliteStore]) -> None:
    a, _ = stores
    assert await a.set_key_state(APP, KEY, KeyState.DISABLED)
    record = await a.get_key(APP, KEY)
    assert record is not None and record.state is KeyState.DISABLED


async def test_rows_are_cached_per_appid(stores: tuple[SqliteStore, SqliteStore]) -> None:
    a, _ = stores
    assert a.cached_key("another-app", KEY) is None
    assert await a.get_key("another-app", KEY) is None


def _dms_lock_is_free_for_another_process(shm: Path) -> bool:
    code = f"""
        import fcntl, os, sys
        fd = os.open({str(shm)!r}, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # the DMS byte (UNIX_SHM_DMS)
        except OSError:
            sys.exit(0)  # someone holds it
        sys.exit(3)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, timeout=60)
    assert done.returncode in (0, 3)
    return done.returncode == 3


@pytest.mark.skipif(not LINUX, reason="the WAL-index header is mapped on Linux only")
async def test_mapping_the_header_keeps_sqlites_locks(stores: tuple[SqliteStore, SqliteStore], tmp_path: Path) -> None:
    """Closing any descriptor on the -shm file would drop this process's POSIX locks on it, SQLite's
    shared lock on the DMS byte among them; another process could then take it exclusively and reset the
    file under the open connections. WalIndexWatch maps SQLite's own descriptor and closes nothing."""
    a, b = stores
    assert a._wal is not None and b._wal is not None
    assert not _dms_lock_is_free_for_another_process(tmp_path / "pyehsm.db-shm")
    await b.close()  # closing one store (its mapping) keeps the other's locks too
    assert not _dms_lock_is_free_for_another_process(tmp_path / "pyehsm.db-shm")
    assert await a.get_key(APP, KEY) is not None


async def test_attach_refuses_a_database_not_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "plain.db", isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x)")
        assert WalIndexWatch.attach(conn, tmp_path / "plain.db") is None
    finally:
        conn.close()


async def test_closed_store_refuses_lookups(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "pyehsm.db")
    await store.open()
    await store.close()
    assert store._wal is None
    with pytest.raises(RuntimeError, match="not open"):
        store.cached_key(APP, KEY)


# -- the service path -------------------------------------------------------------------------------


@pytest.fixture
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two runtimes on one data dir: two workers of one node."""
    a = await open_runtime(Settings(data_dir=tmp_path, pool_depth={}))
    try:
        b = await open_runtime(Settings(data_dir=tmp_path, pool_depth={}))
        try:
            yield a, b
        finally:
            await b.close()
    finally:
        await a.close()


async def test_a_worker_refuses_a_key_another_worker_disabled_on_the_very_next_request(
    two_workers: tuple[Runtime, Runtime],
) -> None:
    a, b = two_workers
    appid, _ = await a.services.apps.enroll()
    aes = await a.services.keys.create(appid, keyspec("EH_AES_GCM_256"), Origin.INTERNAL, None)
    ec = await a.services.keys.create(appid, keyspec("EH_EC_P256"), Origin.INTERNAL, None)
    ct = await a.services.symmetric.encrypt(appid, aes.keyid, b"data", b"")  # row and cipher cached in a
    await a.services.asymmetric.sign(appid, ec.keyid, b"m", "EH_RAW", None, None)

    await b.services.keys.disable(appid, aes.keyid)
    await b.services.keys.disable(appid, ec.keyid)
    with ehsm_raises(match="keyid is disabled"):
        await a.services.symmetric.encrypt(appid, aes.keyid, b"data", b"")
    with ehsm_raises(match="keyid is disabled"):
        await a.services.symmetric.decrypt(appid, aes.keyid, ct, b"")
    with ehsm_raises(match="keyid is disabled"):
        await a.services.asymmetric.sign(appid, ec.keyid, b"m", "EH_RAW", None, None)

    await b.services.keys.enable(appid, aes.keyid)
    assert await a.services.symmetric.decrypt(appid, aes.keyid, ct, b"") == b"data"
    await b.services.keys.delete(appid, aes.keyid)
    with ehsm_raises(match="keyid error"):
        await a.services.symmetric.decrypt(appid, aes.keyid, ct, b"")


async def test_the_fast_path_checks_tenancy_state_and_usage_like_resolve(two_workers: tuple[Runtime, Runtime]) -> None:
    a, _ = two_workers
    keys = a.services.keys
    appid, _ = await a.services.apps.enroll()
    other, _ = await a.services.apps.enroll()
    aes = await keys.create(appid, keyspec("EH_AES_GCM_256"), Origin.INTERNAL, None)
    await keys.resolve(appid, aes.keyid, Operation.ENCRYPT)  # cached now
    assert keys.resolve_cached(appid, aes.keyid, Operation.ENCRYPT) is not None
    assert keys.resolve_cached(other, aes.keyid, Operation.ENCRYPT) is None  # another app: no cached row
    with ehsm_raises(match="keyid error"):
        await keys.resolve(other, aes.keyid, Operation.ENCRYPT)
    with ehsm_raises(match="does not support Sign"):
        keys.resolve_cached(appid, aes.keyid, Operation.SIGN)
    rsa = await keys.create(appid, keyspec("EH_RSA_2048"), Origin.INTERNAL, None)
    await keys.resolve(appid, rsa.keyid, Operation.ASYMMETRIC_ENCRYPT)
    with ehsm_raises(match="keyusage EH_KEYUSAGE_ENCRYPT_DECRYPT of this key does not allow Sign"):
        keys.resolve_cached(appid, rsa.keyid, Operation.SIGN)
    pending = await keys.create(appid, keyspec("EH_AES_GCM_256"), Origin.EXTERNAL, None)
    with ehsm_raises(match="not been imported"):
        await keys.resolve(appid, pending.keyid, Operation.ENCRYPT)
    with ehsm_raises(match="not been imported"):
        keys.resolve_cached(appid, pending.keyid, Operation.ENCRYPT)


@pytest.mark.parametrize("op", list(Operation))
@pytest.mark.parametrize("name", sorted(KEYSPECS))
def test_precomputed_rules_are_the_registry_rules(name: str, op: Operation) -> None:
    spec = KEYSPECS[name]
    for usage in ("EH_KEYUSAGE_ENCRYPT_DECRYPT", "EH_KEYUSAGE_SIGN_VERIFY"):
        record = KeyRecord(APP, KEY, name, "EH_INTERNAL_KEY", usage, KeyState.ENABLED, "", 1, 2, 1)
        if not spec.supports(op):
            with ehsm_raises(match=f"The keyspec {name} does not support {op.value}."):
                key_service.usable_for(record, op)
        elif op.usage is not None and usage != op.usage.value:
            with ehsm_raises(match=f"The keyusage {usage} of this key does not allow {op.value}."):
                key_service.usable_for(record, op)
        else:
            assert key_service.usable_for(record, op) is spec


def test_state_is_checked_before_keyspec_and_usage() -> None:
    wrong = KeyRecord(APP, KEY, "EH_AES_GCM_256", "EH_INTERNAL_KEY", "EH_KEYUSAGE_SIGN_VERIFY",
                      KeyState.DISABLED, "", 1, 2, 1)  # fmt: skip
    with ehsm_raises(match="keyid is disabled"):
        key_service.usable_for(wrong, Operation.SIGN)


# -- the primitive cache ----------------------------------------------------------------------------


def test_primitive_cache_get_is_safe_against_puts_on_another_thread() -> None:
    cache = PrimitiveCache(max_entries=8)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                cache.put((f"k{i % 32}", 1), object())
                if i % 7 == 0:
                    cache.evict_key(f"k{(i + 3) % 32}")
                i += 1
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(200_000):
            cache.get((f"k{i % 32}", 1))
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(cache) <= 8
    assert cache.hits + cache.misses == 200_000
