"""Key metadata survives `pyehsm export` / `pyehsm import` both ways, SQLite -> PostgreSQL -> SQLite: the
description, a pending deletion and its date, aliases, tags and key policies (docs/key-metadata.md)."""

from __future__ import annotations

from pathlib import Path

from pyehsm.store.base import Store
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord
from pyehsm.store.sqlite import SqliteStore
from tests.integration.test_key_versions_portable import _copy
from tests.support.postgres import fresh_database

APP, KEY, OTHER, T0 = "app", "key", "other", 1_700_000_000_000


async def _seed(store: Store) -> None:
    await store.insert_app(AppRecord(APP, b"wrapped apikey", T0))
    for keyid in (KEY, OTHER):
        key = KeyRecord(
            APP,
            keyid,
            "EH_AES_GCM_256",
            "EH_INTERNAL_KEY",
            "EH_KEYUSAGE_ENCRYPT_DECRYPT",
            KeyState.ENABLED,
            "",
            T0,
            0,
            1,
        )
        await store.insert_key(key, KeyVersionRecord(keyid, 1, b"v1", T0))
    assert await store.set_key_description(APP, KEY, "described")
    assert await store.create_alias(APP, "alias/a", KEY, T0 + 1)
    assert await store.create_alias(APP, "alias/b", OTHER, T0 + 2)
    assert await store.tag_key(APP, KEY, {"env": "prod", "empty": ""}, 50) == 2
    assert await store.schedule_key_deletion(APP, OTHER, T0 + 7)
    assert await store.put_key_policy(APP, KEY, "default", '{"Version": "2012-10-17"}', T0 + 3)


async def _snapshot(store: Store) -> tuple[object, ...]:
    return (
        await store.get_key(APP, KEY),
        await store.get_key(APP, OTHER),
        await store.list_aliases(APP),
        await store.list_key_tags(APP, KEY),
        await store.get_key_policy(APP, KEY, "default"),
    )


async def test_key_metadata_moves_between_stores_both_ways(tmp_path: Path) -> None:
    lite = SqliteStore(tmp_path / "source.db")
    await lite.open()
    await _seed(lite)
    expected = await _snapshot(lite)
    assert expected[0].description == "described"  # type: ignore[attr-defined]
    assert expected[1].deletion_ms == T0 + 7  # type: ignore[attr-defined]
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
            assert await back.purge_due_keys(T0 + 7, 10) == [(APP, OTHER)]
            await back.close()
        finally:
            await pg.close()
    await lite.close()
