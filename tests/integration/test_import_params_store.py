"""The Store's BYOK methods (put/get_import_params, count_import_failure, install_key_material,
purge_import_params) on a real SQLite file and a real PostgreSQL database (directly and behind the
row cache), through the shared `store` fixture of this folder's conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

from pyehsm.store.base import Store
from pyehsm.store.records import ImportParamsRecord, KeyRecord, KeyState, KeyVersionRecord
from tests.integration.stores import T0, new_app, new_id

DAY = 86_400_000


async def new_key(store: Store, appid: str, *, external: bool = True) -> KeyRecord:
    record = KeyRecord(
        appid=appid,
        keyid=new_id(),
        keyspec="EH_AES_GCM_256",
        origin="EH_EXTERNAL_KEY" if external else "EH_INTERNAL_KEY",
        keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT",
        state=KeyState.PENDING_IMPORT if external else KeyState.ENABLED,
        alias="",
        created_ms=T0,
        expire_ms=T0 + 1000,
        primary_version=1,
    )
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, None if external else b"material", T0))
    return record


def params_for(key: KeyRecord, *, token_id: str | None = None, expires: int = T0 + DAY) -> ImportParamsRecord:
    return ImportParamsRecord(
        appid=key.appid,
        keyid=key.keyid,
        token_id=token_id or uuid.uuid4().hex,
        wrapping_keyspec="EH_RSA_2048",
        public_key=b"spki:" + key.keyid.encode(),
        wrapped_private_key=b"wrapped-private:" + key.keyid.encode(),
        created_ms=T0,
        expires_ms=expires,
    )


async def test_put_get_replace_and_tenancy(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    key = await new_key(store, appid)
    first = params_for(key)
    assert await store.put_import_params(first) is True
    assert await store.get_import_params(appid, key.keyid) == first
    assert await store.get_import_params(other, key.keyid) is None  # another app sees nothing
    assert "wrapped-private" not in repr(first)

    assert await store.count_import_failure(appid, key.keyid, first.token_id, 5) is True
    got = await store.get_import_params(appid, key.keyid)
    assert got is not None and got.failures == 1
    second = params_for(key, expires=T0 + 2 * DAY)
    assert await store.put_import_params(second) is True  # replaces, failures reset
    assert await store.get_import_params(appid, key.keyid) == second

    # Another app cannot put parameters on this key, and nothing changes when it tries.
    assert await store.put_import_params(replace(params_for(key), appid=other)) is False
    assert await store.get_import_params(appid, key.keyid) == second


async def test_put_refuses_keys_that_do_not_await_material(store: Store) -> None:
    appid = await new_app(store)
    internal = await new_key(store, appid, external=False)
    assert await store.put_import_params(params_for(internal)) is False
    assert await store.put_import_params(params_for(replace(internal, keyid=new_id()))) is False  # unknown key
    assert await store.get_import_params(appid, internal.keyid) is None


async def test_install_is_atomic_and_happens_once(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)

    # Wrong token id, another app: nothing changes.
    assert await store.install_key_material(appid, key.keyid, "0" * 32, b"material-1") is False
    assert await store.install_key_material(other, key.keyid, params.token_id, b"material-1") is False
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.PENDING_IMPORT
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material is None
    assert await store.get_import_params(appid, key.keyid) == params

    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material-1") is True
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.ENABLED
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material == b"material-1"
    assert await store.get_import_params(appid, key.keyid) is None  # the wrapping key pair is gone

    # A second import changes nothing: the spent token, or fresh parameters (a key with material takes them,
    # for an import into a new version), cannot install over the material.
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material-2") is False
    fresh = params_for(key)
    assert await store.put_import_params(fresh) is True
    assert await store.install_key_material(appid, key.keyid, fresh.token_id, b"material-2") is False
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material == b"material-1"


async def test_install_rolls_back_when_the_key_is_not_pending(store: Store) -> None:
    """Parameters exist but the key left pending_import some other way: no half-done import."""
    appid = await new_app(store)
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)
    assert await store.set_key_state(appid, key.keyid, KeyState.DISABLED)
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material") is False
    assert await store.get_import_params(appid, key.keyid) == params  # not consumed
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material is None


async def test_concurrent_installs_one_wins(store: Store) -> None:
    appid = await new_app(store)
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)
    results = await asyncio.gather(
        *(store.install_key_material(appid, key.keyid, params.token_id, f"m{i}".encode()) for i in range(6))
    )
    assert results.count(True) == 1
    version = await store.get_key_version(appid, key.keyid, 1)
    assert version is not None and version.wrapped_material == f"m{results.index(True)}".encode()


async def test_failures_delete_the_parameters_at_the_limit(store: Store) -> None:
    appid = await new_app(store)
    key = await new_key(store, appid)
    params = params_for(key)
    assert await store.put_import_params(params)
    assert await store.count_import_failure(appid, key.keyid, "f" * 32, 3) is False  # other token: no effect
    assert [await store.count_import_failure(appid, key.keyid, params.token_id, 3) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert await store.get_import_params(appid, key.keyid) is None
    assert await store.count_import_failure(appid, key.keyid, params.token_id, 3) is False


async def test_purge_deletes_exactly_the_expired_and_keys_cascade(store: Store) -> None:
    appid = await new_app(store)
    keys = [await new_key(store, appid) for _ in range(4)]
    for key, expires in zip(keys, (T0 + 10, T0 + 20, T0 + 20, T0 + 30), strict=True):
        assert await store.put_import_params(params_for(key, expires=expires))
    assert await store.purge_import_params(T0 + 9) == 0
    counts = await asyncio.gather(*(store.purge_import_params(T0 + 20) for _ in range(4)))  # several nodes
    assert sum(counts) == 3  # expires_ms <= now
    assert [await store.get_import_params(appid, k.keyid) is not None for k in keys] == [False, False, False, True]
    assert await store.delete_key(appid, keys[3].keyid)  # deleting a key deletes its parameters
    assert await store.purge_import_params(T0 + 10**9) == 0
