"""The Store's imported-material methods (add_imported_key_version, promote_key_version, install_key_material
with a material id and an expiry, delete_key_material, expire_key_material) on a real SQLite file and a real
PostgreSQL database (directly and behind the row cache), through the shared `store` fixture."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pyehsm.store.base import SealKeyVersion, Store
from pyehsm.store.records import KeyRecord, KeyState, KeyVersionRecord, VersionSource
from tests.integration.stores import T0, new_app, new_id
from tests.integration.test_import_params_store import new_key, params_for

ID_A, ID_B = "a" * 64, "b" * 64


def sealer(key: KeyRecord, material: bytes, material_id: str) -> SealKeyVersion:
    def seal(version: int) -> KeyVersionRecord:
        return KeyVersionRecord(
            key.keyid, version, material, T0 + version, source=VersionSource.IMPORTED, material_id=material_id
        )

    return seal


async def imported_key(store: Store, appid: str, *, expires_ms: int | None = None) -> KeyRecord:
    """An external key with its first material (id ID_A) imported."""
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material-a", ID_A, expires_ms)
    return key


async def test_first_import_records_the_material_id_and_expiry(store: Store) -> None:
    appid = await new_app(store)
    key = await imported_key(store, appid, expires_ms=T0 + 500)
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.ENABLED and got.material_expires_ms == T0 + 500
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.material_id == ID_A and version.wrapped_material == b"material-a"


async def test_add_imported_version_consumes_the_token_and_moves_the_primary(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    key = await imported_key(store, appid, expires_ms=T0 + 500)
    params = params_for(key)
    assert await store.put_import_params(params)
    seal = sealer(key, b"material-b", ID_B)
    # another app, another token: nothing happens
    assert (
        await store.add_imported_key_version(
            other, key.keyid, params.token_id, seal, make_primary=True, expires_ms=None
        )
        is None
    )
    assert (
        await store.add_imported_key_version(appid, key.keyid, "0" * 32, seal, make_primary=True, expires_ms=None)
        is None
    )
    assert [v.version for v in await store.list_key_versions(appid, key.keyid)] == [1]

    added = await store.add_imported_key_version(
        appid, key.keyid, params.token_id, seal, make_primary=True, expires_ms=None
    )
    assert added is not None and added.version == 2
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.primary_version == 2 and got.material_expires_ms is None
    assert await store.get_import_params(appid, key.keyid) is None
    infos = await store.list_key_versions(appid, key.keyid)
    assert [(v.version, v.source) for v in infos] == [(1, VersionSource.CREATED), (2, VersionSource.IMPORTED)]
    version = await store.get_key_version(appid, key.keyid, 2)
    assert version is not None and version.material_id == ID_B


async def test_a_waiting_version_blocks_another_until_promoted(store: Store) -> None:
    appid = await new_app(store)
    key = await imported_key(store, appid)
    assert await store.promote_key_version(appid, key.keyid) is None  # nothing waits
    params = params_for(key)
    assert await store.put_import_params(params)
    seal = sealer(key, b"material-b", ID_B)
    added = await store.add_imported_key_version(
        appid, key.keyid, params.token_id, seal, make_primary=False, expires_ms=None
    )
    assert added is not None and added.version == 2
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.primary_version == 1

    again = params_for(key)
    assert await store.put_import_params(again)
    third = sealer(key, b"material-c", "c" * 64)
    assert (
        await store.add_imported_key_version(
            appid, key.keyid, again.token_id, third, make_primary=True, expires_ms=None
        )
        is None
    )
    assert await store.get_import_params(appid, key.keyid) == again  # not consumed

    results = await asyncio.gather(*(store.promote_key_version(appid, key.keyid) for _ in range(3)))
    assert sorted(results, key=lambda r: r or 0) == [None, None, 2]  # promoted exactly once
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.primary_version == 2


async def test_add_imported_version_only_for_an_enabled_key(store: Store) -> None:
    appid = await new_app(store)
    pending = await new_key(store, appid)
    params = params_for(pending)
    assert await store.put_import_params(params)
    seal = sealer(pending, b"m", ID_B)
    assert (
        await store.add_imported_key_version(
            appid, pending.keyid, params.token_id, seal, make_primary=True, expires_ms=None
        )
        is None
    )
    disabled = await imported_key(store, appid)
    assert await store.set_key_state(appid, disabled.keyid, KeyState.DISABLED)
    params = params_for(disabled)
    assert await store.put_import_params(params)
    assert (
        await store.add_imported_key_version(
            appid, disabled.keyid, params.token_id, seal, make_primary=True, expires_ms=None
        )
        is None
    )


async def test_delete_keeps_the_id_and_only_the_same_material_comes_back(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    key = await imported_key(store, appid, expires_ms=T0 + 500)
    assert await store.delete_key_material(other, key.keyid, ID_A) is False  # tenancy
    assert await store.delete_key_material(appid, key.keyid, ID_A) is True
    assert await store.delete_key_material(appid, key.keyid, ID_A) is False  # nothing left to delete
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.PENDING_IMPORT and got.material_expires_ms is None
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material is None and version.material_id == ID_A

    params = params_for(key)
    assert await store.put_import_params(params)
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"other", ID_B) is False
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material-a", ID_A) is True
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.ENABLED


async def test_delete_sets_a_missing_id_and_a_key_pending_deletion_stays_so(store: Store) -> None:
    appid = await new_app(store)
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"legacy")  # no material id
    assert await store.schedule_key_deletion(appid, key.keyid, T0 + 10**6)
    assert await store.delete_key_material(appid, key.keyid, ID_B) is True
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.PENDING_DELETION
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.material_id == ID_B and version.wrapped_material is None
    assert await store.cancel_key_deletion(appid, key.keyid)
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.PENDING_IMPORT  # the primary has no material


async def test_expire_each_due_key_exactly_once(store: Store) -> None:
    appid = await new_app(store)
    keys = [await imported_key(store, appid, expires_ms=T0 + e) for e in (10, 20, 20, 30)]
    never = await imported_key(store, appid)
    assert await store.expire_key_material(T0 + 9, 100) == []
    runs = await asyncio.gather(*(store.expire_key_material(T0 + 20, 100) for _ in range(4)))  # several nodes
    expired = sorted(k for run in runs for _, k in run)
    assert expired == sorted(k.keyid for k in keys[:3])
    states = [(await store.get_key(appid, k.keyid)).state for k in (*keys, never)]  # type: ignore[union-attr]
    assert states == [KeyState.PENDING_IMPORT] * 3 + [KeyState.ENABLED] * 2
    # one key only
    assert await store.expire_key_material(T0 + 99, 100, never.keyid) == []
    assert await store.expire_key_material(T0 + 99, 100, keys[3].keyid) == [(appid, keys[3].keyid)]
    assert await store.expire_key_material(T0 + 99, 100) == []


async def test_versions_of_other_keys_are_untouched(store: Store) -> None:
    appid = await new_app(store)
    key = await imported_key(store, appid, expires_ms=T0 + 5)
    internal = await new_key(store, appid, external=False)
    assert await store.expire_key_material(T0 + 5, 100) == [(appid, key.keyid)]
    version = await store.get_key_version(appid, internal.keyid, 1)
    assert version is not None and version.wrapped_material == b"material"
    assert await store.delete_key_material(appid, replace(internal, keyid=new_id()).keyid, ID_A) is False
