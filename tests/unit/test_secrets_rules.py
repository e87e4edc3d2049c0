"""The secrets manager's pure rules (rotation interval, forceDelete, value sealing) and its store
primitives that must be race-free across processes (two real SQLite connections on one file)."""

from __future__ import annotations

import asyncio
import functools
import threading
from pathlib import Path

import pytest

from pyehsm.clock import DAY_MS, HOUR_MS, MINUTE_MS
from pyehsm.crypto.aead import AuthenticationFailed
from pyehsm.protocols.ehsm.errors import FORCE_DELETE_CONFLICT, FORCE_DELETE_VALUE, ROTATION_FORMAT, ROTATION_RANGE
from pyehsm.services.secrets import (
    decode_value,
    encode_value,
    force_delete_flag,
    next_rotation_ms,
    open_value,
    rotation_interval_ms,
    seal_value,
    value_aad,
)
from pyehsm.store.records import AppRecord, SecretRecord, SecretsKeyRecord, SecretVersionRecord
from pyehsm.store.sqlite import SqliteStore
from tests.support.ehsm import ehsm_raises


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("6h", 6 * HOUR_MS),
        ("360m", 6 * HOUR_MS),
        ("1d", DAY_MS),
        ("30d", 30 * DAY_MS),
        ("0030d", 30 * DAY_MS),
        ("8760h", 8760 * HOUR_MS),
        ("365d", 365 * DAY_MS),
        ("9999m", 9999 * MINUTE_MS),
    ],
)
def test_rotation_interval_accepted(text: str, ms: int) -> None:
    assert rotation_interval_ms(text) == ms


@pytest.mark.parametrize("text", ["5h", "359m", "9999s", "0d", "0h", "8761h", "366d", "9999d"])
def test_rotation_interval_out_of_range(text: str) -> None:
    with ehsm_raises() as err:
        rotation_interval_ms(text)
    assert err.value.message == ROTATION_RANGE


@pytest.mark.parametrize(
    "text", ["", "30", "d", "30D", "30 d", " 30d", "30d ", "12345h", "3.5d", "-1d", "30dd", "\u0663\u0660d", "３０d"]
)
def test_rotation_interval_bad_format(text: str) -> None:
    with ehsm_raises() as err:
        rotation_interval_ms(text)
    assert err.value.message == ROTATION_FORMAT


def _record(**changes: object) -> SecretRecord:
    base: dict[str, object] = {
        "appid": "app",
        "secret_id": "sid",
        "name": "n",
        "description": "",
        "encryption_keyid": None,
        "rotation_interval": "6h",
        "created_ms": 1_000,
        "updated_ms": 1_000,
        "last_rotation_ms": 0,
        "latest_version": 1,
        "planned_delete_ms": None,
    }
    base.update(changes)
    return SecretRecord(**base)  # type: ignore[arg-type]


def test_next_rotation_counts_from_creation_then_from_last_rotation() -> None:
    assert next_rotation_ms(_record()) == 1_000 + 6 * HOUR_MS
    assert next_rotation_ms(_record(last_rotation_ms=50_000, rotation_interval="2d")) == 50_000 + 2 * DAY_MS


@pytest.mark.parametrize(
    ("force", "sdk", "expected"),
    [
        (None, None, False),
        ("", None, False),
        ("true", None, True),
        ("false", None, False),
        ("TRUE", None, True),
        ("False", None, False),
        (True, None, True),
        (None, "true", True),
        (None, "false", False),
        ("true", "true", True),
        ("", "true", True),
    ],
)
def test_force_delete_flag(force: object, sdk: object, expected: bool) -> None:
    assert force_delete_flag(force, sdk) is expected


@pytest.mark.parametrize("value", ["yes", "1", 1, 0, "t", " true", [], {}, 1.0])
def test_force_delete_rejects_other_values(value: object) -> None:
    for force, sdk in ((value, None), (None, value)):
        with ehsm_raises() as err:
            force_delete_flag(force, sdk)
        assert err.value.message == FORCE_DELETE_VALUE


def test_force_delete_spellings_must_agree() -> None:
    with ehsm_raises() as err:
        force_delete_flag("false", "true")
    assert err.value.message == FORCE_DELETE_CONFLICT


def test_sealed_value_is_bound_to_app_secret_and_version() -> None:
    key = bytes(range(32))
    aad = value_aad("app-1", "secret-1", 3)
    value = encode_value('a&b=c%20+d "q" 秘密 \ud800')
    sealed = seal_value(key, value, aad)
    assert value not in sealed
    assert decode_value(open_value(key, sealed, aad)) == 'a&b=c%20+d "q" 秘密 \ud800'
    for other in (
        value_aad("app-2", "secret-1", 3),
        value_aad("app-1", "secret-2", 3),
        value_aad("app-1", "secret-1", 4),
    ):
        with pytest.raises(AuthenticationFailed):
            open_value(key, sealed, other)
    with pytest.raises(AuthenticationFailed):
        open_value(bytes(32), sealed, aad)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(AuthenticationFailed):
        open_value(key, bytes(tampered), aad)


# -- store primitives under concurrency (each thread its own connection, like separate processes) -------
def _in_threads(count: int, work: object) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = asyncio.run(work(i))  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"

    async def setup() -> None:
        store = SqliteStore(path)
        await store.open()
        await store.insert_app(AppRecord("app-1", b"wrapped", 1))
        await store.close()

    asyncio.run(setup())
    return path


def test_default_secrets_key_insert_is_race_free(db: Path) -> None:
    async def insert(i: int) -> SecretsKeyRecord:
        store = SqliteStore(db)
        await store.open()
        try:
            return await store.insert_secrets_key_if_absent(SecretsKeyRecord("app-1", f"key-{i}", bytes([i]) * 40, i))
        finally:
            await store.close()

    stored = _in_threads(6, insert)
    assert len({r.keyid for r in stored}) == 1  # type: ignore[attr-defined]


def test_purge_by_several_nodes_at_once_removes_each_due_secret_once(db: Path) -> None:
    async def setup() -> None:
        store = SqliteStore(db)
        await store.open()
        for i in range(10):
            sid = f"s{i}"
            record = _record(appid="app-1", secret_id=sid, name=f"name-{i}")
            assert await store.insert_secret(record, SecretVersionRecord(sid, 1, b"k", b"v", 1), 1)
            seal = functools.partial(SecretVersionRecord, sid, wrapped_data_key=b"k", sealed_value=b"v", created_ms=2)
            assert await store.add_secret_version("app-1", sid, 2, seal) == 2
            # s0..s6 are due at 100; s7..s9 later
            assert await store.schedule_secret_deletion("app-1", sid, 100 if i < 7 else 10_000, 2)
        await store.close()

    asyncio.run(setup())

    async def purge(_: int) -> int:
        store = SqliteStore(db)
        await store.open()
        try:
            return await store.purge_secrets(100)
        finally:
            await store.close()

    assert sum(_in_threads(4, purge)) == 7  # type: ignore[arg-type]

    async def check() -> None:
        store = SqliteStore(db)
        await store.open()
        assert [r.name for r in await store.list_secrets("app-1", None, 100, 100)] == ["name-7", "name-8", "name-9"]
        remaining = store.conn.execute("SELECT DISTINCT secret_id FROM secret_versions ORDER BY secret_id").fetchall()
        assert [r[0] for r in remaining] == ["s7", "s8", "s9"]
        assert await store.purge_secrets(100) == 0  # idempotent
        await store.close()

    asyncio.run(check())


def test_concurrent_version_appends_from_several_connections_all_succeed(db: Path) -> None:
    """Writers on separate connections (as separate worker processes are) queue on the store's lock: each
    seals the version it is given, and every append succeeds with a version id of its own."""

    async def setup() -> None:
        store = SqliteStore(db)
        await store.open()
        assert await store.insert_secret(_record(appid="app-1"), SecretVersionRecord("sid", 1, b"k", b"v", 1), 1)
        await store.close()

    asyncio.run(setup())

    async def append(i: int) -> int | None:
        store = SqliteStore(db)
        await store.open()
        try:
            return await store.add_secret_version(
                "app-1", "sid", 2, lambda v: SecretVersionRecord("sid", v, b"k", bytes([i]), 2)
            )
        finally:
            await store.close()

    assert sorted(_in_threads(5, append)) == [2, 3, 4, 5, 6]  # type: ignore[type-var]
