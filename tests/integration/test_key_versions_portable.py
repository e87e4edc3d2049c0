"""Key versions survive `pyehsm export` / `pyehsm import` (export_store / import_store, the file they write) both ways,
SQLite -> PostgreSQL -> SQLite: every version with its state and how it was made, the primary and the
rotation settings, and a moved store keeps adding versions after the ones it brought."""

from __future__ import annotations

import io
from pathlib import Path

from pyehsm.cli.data import export_store, import_store
from pyehsm.store.base import Store
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord, KeyVersionState, VersionSource
from pyehsm.store.sqlite import SqliteStore
from tests.support.postgres import fresh_database

APP, KEY, T0, DAY = "app", "key", 1_700_000_000_000, 86_400_000


async def _copy(source: Store, target: Store) -> None:
    exported = io.StringIO()
    await export_store(source, exported)
    exported.seek(0)
    await import_store(target, exported)


async def _seed(store: Store) -> None:
    await store.insert_app(AppRecord(APP, b"wrapped apikey", T0))
    key = KeyRecord(
        APP, KEY, "EH_AES_GCM_256", "EH_INTERNAL_KEY", "EH_KEYUSAGE_ENCRYPT_DECRYPT", KeyState.ENABLED, "", T0, 0, 1
    )
    await store.insert_key(key, KeyVersionRecord(KEY, 1, b"v1", T0))
    for source in (VersionSource.ON_DEMAND, VersionSource.AUTOMATIC):
        await store.add_key_version(
            APP,
            KEY,
            lambda n, s=source: KeyVersionRecord(KEY, n, f"v{n}".encode(), T0 + n, source=s),
            make_primary=True,
        )
    assert await store.set_key_version_state(APP, KEY, 1, KeyVersionState.DISABLED)
    assert await store.set_key_rotation(APP, KEY, 90, T0 + 90 * DAY)


async def _snapshot(store: Store) -> tuple[object, ...]:
    return (
        await store.get_key(APP, KEY),
        await store.list_key_versions(APP, KEY),
        [await store.get_key_version(APP, KEY, n) for n in (1, 2, 3)],
    )


async def test_versions_move_between_stores_both_ways(tmp_path: Path) -> None:
    lite = SqliteStore(tmp_path / "source.db")
    await lite.open()
    await _seed(lite)
    expected = await _snapshot(lite)
    key = expected[0]
    assert isinstance(key, KeyRecord) and key.primary_version == 3 and key.rotation_period_days == 90
    with fresh_database() as url:
        pg = PostgresStore(url, max_size=2)
        await pg.open()
        try:
            await _copy(lite, pg)
            assert await _snapshot(pg) == expected
            back = SqliteStore(tmp_path / "back.db")
            await back.open()
            await _copy(pg, back)
            assert await _snapshot(back) == expected
            added = await back.add_key_version(
                APP, KEY, lambda n: KeyVersionRecord(KEY, n, b"v4", T0 + 4), make_primary=True
            )
            assert added is not None and added.version == 4
            await back.close()
        finally:
            await pg.close()
    await lite.close()
