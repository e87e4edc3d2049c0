"""One contract for every Store: SQLite, PostgreSQL, and PostgreSQL reading through its row cache.

Each test gets a fresh store (a new SQLite file or a new PostgreSQL database). The last tests check
that this module exercises every method of the Store protocol and that every store implementation
defines each of them, so a Store method added later without a contract test fails here.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from dataclasses import replace

import psycopg
import pytest

from pyehsm.keyring.keyring import Keyring
from pyehsm.store.base import PortableStore, Store, WrappedValue
from pyehsm.store.limits import MAX_BULK_KEYS
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.records import (
    AppRecord,
    ImportParamsRecord,
    KeyRecord,
    KeyState,
    KeyVersionInfo,
    KeyVersionRecord,
    KeyVersionState,
    QuotePolicyRecord,
    SealKeyVersion,
    SealVersion,
    SecretRecord,
    SecretsKeyRecord,
    SecretVersionRecord,
    VersionSource,
)
from pyehsm.store.sqlite import SqliteStore
from tests.integration.stores import T0, new_app, new_id

DUPLICATE = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)


def key_record(
    appid: str, *, created: int = T0, state: KeyState = KeyState.ENABLED, spec: str = "EH_AES_GCM_256"
) -> KeyRecord:
    return KeyRecord(
        appid=appid,
        keyid=new_id(),
        keyspec=spec,
        origin="EH_INTERNAL_KEY",
        keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT",
        state=state,
        alias="",
        created_ms=created,
        expire_ms=created + 1000,
        primary_version=1,
    )


async def new_key(store: Store, appid: str, **kwargs: object) -> KeyRecord:
    record = key_record(appid, **kwargs)  # type: ignore[arg-type]
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, b"material:" + record.keyid.encode(), T0))
    return record


# -- lifecycle ------------------------------------------------------------------------------------
async def test_open_ping_close_and_reopen(store: Store) -> None:
    assert await store.ping() is True
    assert store.kind in ("sqlite", "postgres")
    await store.put_meta("survives", b"reopen")
    await store.close()
    await store.open()  # migrations already applied: nothing to do, data kept
    assert await store.get_meta("survives") == b"reopen"
    assert await store.ping() is True


# -- meta -----------------------------------------------------------------------------------------
async def test_meta_get_put_overwrite(store: Store) -> None:
    assert await store.get_meta("absent") is None
    await store.put_meta("m", b"\x00\x01binary\xff")
    assert await store.get_meta("m") == b"\x00\x01binary\xff"
    await store.put_meta("m", b"second")
    assert await store.get_meta("m") == b"second"


async def test_insert_meta_if_absent_keeps_the_first_value(store: Store) -> None:
    assert await store.insert_meta_if_absent("dk.test", b"first") == b"first"
    assert await store.insert_meta_if_absent("dk.test", b"second") == b"first"
    assert await store.get_meta("dk.test") == b"first"
    racers = await asyncio.gather(*(store.insert_meta_if_absent("race", bytes([i])) for i in range(8)))
    assert len(set(racers)) == 1
    assert await store.get_meta("race") == racers[0]


# -- apps -----------------------------------------------------------------------------------------
async def test_apps_insert_get_unknown_duplicate(store: Store) -> None:
    appid = await new_app(store)
    got = await store.get_app(appid)
    assert got == AppRecord(appid, b"wrapped-apikey:" + appid.encode(), T0)
    assert await store.get_app(new_id()) is None
    with pytest.raises(DUPLICATE):
        await store.insert_app(AppRecord(appid, b"other", T0))
    assert await store.get_app(appid) == got


async def test_app_require_signed_action_setting(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    assert (await store.get_app(appid)).require_signed_action is False  # type: ignore[union-attr]
    assert await store.set_app_require_signed_action(appid, True) is True
    assert (await store.get_app(appid)).require_signed_action is True  # type: ignore[union-attr]
    assert (await store.get_app(other)).require_signed_action is False  # type: ignore[union-attr]
    assert await store.set_app_require_signed_action(appid, False) is True
    assert (await store.get_app(appid)).require_signed_action is False  # type: ignore[union-attr]
    assert await store.set_app_require_signed_action(new_id(), True) is False


# -- keys -----------------------------------------------------------------------------------------
async def test_insert_and_read_key_and_version(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    assert await store.get_key(appid, record.keyid) == record
    version = await store.get_key_version(appid, record.keyid, 1)
    assert version == KeyVersionRecord(record.keyid, 1, b"material:" + record.keyid.encode(), T0)
    assert await store.get_key_version(appid, record.keyid, 2) is None
    assert await store.get_key(appid, new_id()) is None


async def test_insert_key_is_atomic_and_unique(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    clash = key_record(appid)
    with pytest.raises(DUPLICATE):  # the key row is new but its version row clashes: neither stays
        await store.insert_key(
            KeyRecord(**{**_fields(clash), "keyid": record.keyid}),
            KeyVersionRecord(record.keyid, 1, b"x", T0),
        )
    assert await store.get_key(appid, record.keyid) == record
    assert [k.keyid for k in await store.list_keys(appid)] == [record.keyid]


async def test_insert_keys_in_bulk(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    batch = [key_record(appid if i % 2 else other, created=T0 + i) for i in range(50)]
    pairs = [(k, KeyVersionRecord(k.keyid, 1, b"m:" + k.keyid.encode(), T0)) for k in batch]
    await store.insert_keys(pairs)
    for key, version in pairs:
        assert await store.get_key(key.appid, key.keyid) == key
        assert await store.get_key_version(key.appid, key.keyid, 1) == version
    assert [k.keyid for k in await store.list_keys(appid)] == [k.keyid for k in batch if k.appid == appid]
    await store.insert_keys([])  # nothing to do


async def test_insert_keys_is_all_or_nothing(store: Store) -> None:
    appid = await new_app(store)
    existing = await new_key(store, appid)
    fresh = [key_record(appid) for _ in range(3)]
    clash = KeyRecord(**{**_fields(key_record(appid)), "keyid": existing.keyid})
    pairs = [(k, KeyVersionRecord(k.keyid, 1, b"m", T0)) for k in [*fresh, clash]]
    with pytest.raises(DUPLICATE):
        await store.insert_keys(pairs)
    assert [k.keyid for k in await store.list_keys(appid)] == [existing.keyid]


async def test_insert_keys_refuses_oversized_or_mismatched_batches(store: Store) -> None:
    appid = await new_app(store)
    one, two = key_record(appid), key_record(appid)
    with pytest.raises(ValueError, match="another key"):
        await store.insert_keys([(one, KeyVersionRecord(two.keyid, 1, b"m", T0))])
    too_many = [(one, KeyVersionRecord(one.keyid, 1, b"m", T0))] * (MAX_BULK_KEYS + 1)
    with pytest.raises(ValueError, match="at most"):
        await store.insert_keys(too_many)
    assert await store.list_keys(appid) == []


def _fields(record: KeyRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]


async def test_external_key_without_material(store: Store) -> None:
    appid = await new_app(store)
    record = awaiting_import(appid)
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, None, T0))
    assert (await store.get_key(appid, record.keyid)) == record
    version = await store.get_key_version(appid, record.keyid, 1)
    assert version is not None and version.wrapped_material is None


async def test_list_keys_in_creation_order_and_per_app(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    later = await new_key(store, appid, created=T0 + 20)
    first = await new_key(store, appid, created=T0 + 10)
    await new_key(store, other)
    assert [k.keyid for k in await store.list_keys(appid)] == [first.keyid, later.keyid]
    assert await store.list_keys(new_id()) == []


async def test_set_key_state(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    assert await store.set_key_state(appid, record.keyid, KeyState.DISABLED) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.state is KeyState.DISABLED
    assert await store.set_key_state(appid, record.keyid, KeyState.ENABLED) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.state is KeyState.ENABLED
    assert await store.set_key_state(appid, new_id(), KeyState.DISABLED) is False


async def test_delete_key_removes_its_versions(store: Store) -> None:
    appid = await new_app(store)
    record, kept = await new_key(store, appid), await new_key(store, appid)
    assert await store.get_key(appid, record.keyid) is not None  # cached where a cache exists
    assert await store.delete_key(appid, record.keyid) is True
    assert await store.get_key(appid, record.keyid) is None
    assert await store.get_key_version(appid, record.keyid, 1) is None
    assert await store.delete_key(appid, record.keyid) is False
    assert [k.keyid for k in await store.list_keys(appid)] == [kept.keyid]


async def test_delete_all_keys_of_one_app_only(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    mine = {(await new_key(store, appid)).keyid for _ in range(3)}
    theirs = await new_key(store, other)
    assert set(await store.delete_all_keys(appid)) == mine
    assert await store.list_keys(appid) == []
    assert await store.delete_all_keys(appid) == []
    assert await store.get_key(other, theirs.keyid) == theirs


async def test_another_apps_key_answers_like_an_unknown_one(store: Store) -> None:
    owner, stranger = await new_app(store), await new_app(store)
    record = await new_key(store, owner)
    assert await store.get_key(owner, record.keyid) == record  # warm any cache with the owner's view
    assert await store.get_key(stranger, record.keyid) is None
    assert await store.get_key_version(stranger, record.keyid, 1) is None
    assert await store.set_key_state(stranger, record.keyid, KeyState.DISABLED) is False
    assert await store.delete_key(stranger, record.keyid) is False
    assert await store.list_keys(stranger) == []
    assert await store.delete_all_keys(stranger) == []
    assert await store.get_key(owner, record.keyid) == record


# -- key versions (rotation) -------------------------------------------------------------------------
def version_sealer(
    keyid: str, at: int, source: VersionSource = VersionSource.ON_DEMAND, calls: list[int] | None = None
) -> SealKeyVersion:
    def seal(number: int) -> KeyVersionRecord:
        if calls is not None:
            calls.append(number)
        return KeyVersionRecord(keyid, number, f"material:{keyid}:{number}".encode(), at, source=source)

    return seal


async def test_add_key_versions_and_move_the_primary(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    assert await store.get_key(appid, record.keyid) == record  # warm any cache with the old primary
    added = await store.add_key_version(appid, record.keyid, version_sealer(record.keyid, T0 + 1), make_primary=True)
    assert added == KeyVersionRecord(
        record.keyid, 2, f"material:{record.keyid}:2".encode(), T0 + 1, KeyVersionState.ENABLED, VersionSource.ON_DEMAND
    )
    assert (await store.get_key(appid, record.keyid)).primary_version == 2  # type: ignore[union-attr]
    assert await store.get_key_version(appid, record.keyid, 2) == added
    # a version that is not made primary (new material staged first)
    staged = await store.add_key_version(
        appid, record.keyid, version_sealer(record.keyid, T0 + 2, VersionSource.IMPORTED), make_primary=False
    )
    assert staged is not None and staged.version == 3
    assert (await store.get_key(appid, record.keyid)).primary_version == 2  # type: ignore[union-attr]
    assert await store.list_key_versions(appid, record.keyid) == [
        KeyVersionInfo(1, T0, KeyVersionState.ENABLED, VersionSource.CREATED, True),
        KeyVersionInfo(2, T0 + 1, KeyVersionState.ENABLED, VersionSource.ON_DEMAND, True),
        KeyVersionInfo(3, T0 + 2, KeyVersionState.ENABLED, VersionSource.IMPORTED, True),
    ]
    # every version's material stays readable: old ciphertexts name their version
    for number in (1, 2, 3):
        assert await store.get_key_version(appid, record.keyid, number) is not None
    assert await store.set_primary_version(appid, record.keyid, 3) is True
    assert (await store.get_key(appid, record.keyid)).primary_version == 3  # type: ignore[union-attr]
    assert await store.set_primary_version(appid, record.keyid, 9) is False  # no such version
    assert (await store.get_key(appid, record.keyid)).primary_version == 3  # type: ignore[union-attr]
    assert await store.delete_key(appid, record.keyid) is True
    assert await store.list_key_versions(appid, record.keyid) == []
    assert await store.get_key_version(appid, record.keyid, 2) is None


async def test_key_and_primary_material_in_one_read(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    record = await new_key(store, appid)
    assert await store.get_key_and_primary(appid, record.keyid) == (record, b"material:" + record.keyid.encode())
    peek = getattr(store, "cached_key", None)  # the synchronous row-cache answer, where the store has one
    cached = peek(appid, record.keyid) if peek is not None else None
    assert cached in (None, record)  # kept as get_key keeps it (PostgreSQL without a row cache: never)
    assert peek is None or peek(other, record.keyid) is None  # the cache answers only the key's own app
    assert await store.get_key_and_primary(other, record.keyid) is None  # another app's key: unknown
    assert await store.get_key_and_primary(appid, new_id()) is None
    await store.add_key_version(appid, record.keyid, version_sealer(record.keyid, T0 + 1), make_primary=True)
    found = await store.get_key_and_primary(appid, record.keyid)  # the new primary, not a cached row
    assert found is not None and found[0].primary_version == 2 and found[1] == f"material:{record.keyid}:2".encode()
    assert await store.get_key(appid, record.keyid) == found[0]
    pending = awaiting_import(appid)
    await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))
    assert await store.get_key_and_primary(appid, pending.keyid) == (pending, None)
    assert await store.delete_key(appid, record.keyid) is True
    assert peek is None or peek(appid, record.keyid) is None  # the deletion evicted the cached row
    assert await store.get_key_and_primary(appid, record.keyid) is None


async def test_concurrent_rotations_each_get_their_own_version(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    added = await asyncio.gather(
        *(
            store.add_key_version(appid, record.keyid, version_sealer(record.keyid, T0), make_primary=True)
            for _ in range(5)
        )
    )
    assert sorted(v.version for v in added if v is not None) == [2, 3, 4, 5, 6]
    assert [v.version for v in await store.list_key_versions(appid, record.keyid)] == [1, 2, 3, 4, 5, 6]
    assert (await store.get_key(appid, record.keyid)).primary_version in {2, 3, 4, 5, 6}  # type: ignore[union-attr]


async def test_version_state_keeps_material_and_protects_the_primary(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    await store.add_key_version(appid, record.keyid, version_sealer(record.keyid, T0 + 1), make_primary=True)
    assert await store.set_key_version_state(appid, record.keyid, 1, KeyVersionState.DISABLED) is True
    old = await store.get_key_version(appid, record.keyid, 1)
    assert old is not None and old.state is KeyVersionState.DISABLED and old.wrapped_material is not None
    assert [v.state for v in await store.list_key_versions(appid, record.keyid)] == [
        KeyVersionState.DISABLED,
        KeyVersionState.ENABLED,
    ]
    assert await store.set_key_version_state(appid, record.keyid, 2, KeyVersionState.DISABLED) is False  # primary
    assert await store.set_primary_version(appid, record.keyid, 1) is False  # a disabled version
    assert await store.set_key_version_state(appid, record.keyid, 7, KeyVersionState.DISABLED) is False
    assert await store.set_key_version_state(appid, record.keyid, 1, KeyVersionState.ENABLED) is True  # restored
    assert await store.set_key_version_state(appid, record.keyid, 2, KeyVersionState.ENABLED) is True
    assert await store.set_primary_version(appid, record.keyid, 1) is True


async def test_a_version_without_material_cannot_become_primary(store: Store) -> None:
    appid = await new_app(store)
    pending = awaiting_import(appid)
    await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))

    def empty(number: int) -> KeyVersionRecord:
        return KeyVersionRecord(pending.keyid, number, None, T0, source=VersionSource.IMPORTED)

    added = await store.add_key_version(appid, pending.keyid, empty, make_primary=False)
    assert added is not None and added.version == 2
    assert await store.set_primary_version(appid, pending.keyid, 2) is False
    assert [v.has_material for v in await store.list_key_versions(appid, pending.keyid)] == [False, False]


async def test_automatic_rotation_is_due_once(store: Store) -> None:
    appid = await new_app(store)
    record, idle = await new_key(store, appid), await new_key(store, appid)
    day = 86_400_000
    assert await store.set_key_rotation(appid, record.keyid, 90, T0 + day) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and (got.rotation_period_days, got.next_rotation_ms) == (90, T0 + day)
    assert await store.list_due_rotations(T0 + day - 1, 10) == []
    due = await store.list_due_rotations(T0 + day, 10)
    assert [k.keyid for k in due] == [record.keyid]
    calls: list[int] = []
    seal = version_sealer(record.keyid, T0 + day, VersionSource.AUTOMATIC, calls)
    # two nodes see the key due at the same time: exactly one version is added
    results = await asyncio.gather(
        store.add_key_version(appid, record.keyid, seal, make_primary=True, due_ms=T0 + day),
        store.add_key_version(appid, record.keyid, seal, make_primary=True, due_ms=T0 + day),
    )
    assert [r is not None for r in results].count(True) == 1 and calls == [2]
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.primary_version == 2 and got.next_rotation_ms == T0 + day + 90 * day
    assert await store.list_due_rotations(T0 + day, 10) == []
    # a key without automatic rotation is never due
    assert await store.add_key_version(appid, idle.keyid, seal, make_primary=True, due_ms=T0 + 10**12) is None
    assert await store.set_key_rotation(appid, record.keyid, None, None) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and (got.rotation_period_days, got.next_rotation_ms) == (None, None)
    assert await store.list_due_rotations(T0 + 10**12, 10) == []


async def test_a_key_pending_deletion_is_never_rotated_automatically(store: Store) -> None:
    appid = await new_app(store)
    record = await new_key(store, appid)
    day = 86_400_000
    assert await store.set_key_rotation(appid, record.keyid, 90, T0 + day) is True
    assert await store.schedule_key_deletion(appid, record.keyid, T0 + 30 * day) is True
    assert await store.list_due_rotations(T0 + day, 10) == []
    calls: list[int] = []
    seal = version_sealer(record.keyid, T0 + day, VersionSource.AUTOMATIC, calls)
    # the job's due-check refuses it too (a deletion scheduled between listing and rotating)
    assert await store.add_key_version(appid, record.keyid, seal, make_primary=True, due_ms=T0 + day) is None
    assert calls == []
    assert await store.cancel_key_deletion(appid, record.keyid) is True
    assert [k.keyid for k in await store.list_due_rotations(T0 + day, 10)] == [record.keyid]


async def test_min_decryption_version_is_kept_on_the_key_row(store: Store) -> None:
    owner, stranger = await new_app(store), await new_app(store)
    record = await new_key(store, owner)
    assert record.min_decryption_version == 1
    assert await store.set_min_decryption_version(owner, record.keyid, 3) is True
    got = await store.get_key(owner, record.keyid)
    assert got is not None and got.min_decryption_version == 3
    assert [k.min_decryption_version for k in await store.list_keys(owner)] == [3]
    assert await store.set_min_decryption_version(stranger, record.keyid, 1) is False
    assert await store.set_min_decryption_version(owner, new_id(), 1) is False
    assert await store.set_min_decryption_version(owner, record.keyid, 1) is True
    got = await store.get_key(owner, record.keyid)
    assert got is not None and got.min_decryption_version == 1


async def test_another_apps_key_versions_answer_like_unknown_ones(store: Store) -> None:
    owner, stranger = await new_app(store), await new_app(store)
    record = await new_key(store, owner)
    seal = version_sealer(record.keyid, T0)
    assert await store.add_key_version(stranger, record.keyid, seal, make_primary=True) is None
    assert await store.list_key_versions(stranger, record.keyid) == []
    assert await store.set_primary_version(stranger, record.keyid, 1) is False
    assert await store.set_key_version_state(stranger, record.keyid, 1, KeyVersionState.DISABLED) is False
    assert await store.set_key_rotation(stranger, record.keyid, 90, T0) is False
    assert await store.get_key(owner, record.keyid) == record
    assert [v.version for v in await store.list_key_versions(owner, record.keyid)] == [1]


async def test_domain_key_rewrap_covers_every_key_version(store: Store) -> None:
    appid = await new_app(store)
    record = key_record(appid)
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, wrapped_under(1, "v1"), T0))

    def seal(number: int) -> KeyVersionRecord:
        return KeyVersionRecord(record.keyid, number, wrapped_under(1, f"v{number}"), T0)

    await store.add_key_version(appid, record.keyid, seal, make_primary=True)
    await store.add_key_version(appid, record.keyid, seal, make_primary=False)
    await store.set_key_version_state(appid, record.keyid, 1, KeyVersionState.DISABLED)  # still re-wrapped
    listed = await store.list_wrapped("cmk", Keyring.dk_id_prefix(2), None, 10)
    assert [v.key for v in listed] == [(record.keyid, 1), (record.keyid, 2), (record.keyid, 3)]
    assert await store.count_wrapped("cmk") == {Keyring.dk_id_prefix(1): 3}


# -- meta compare-and-swap (domain-key and root-key rotation) ---------------------------------------
async def test_replace_meta_compare_and_swap(store: Store) -> None:
    await store.put_meta("a", b"1")
    assert await store.replace_meta({"a": b"1", "b": None}, {"a": b"2", "b": b"new"}) is True
    assert (await store.get_meta("a"), await store.get_meta("b")) == (b"2", b"new")
    assert await store.replace_meta({"a": b"1"}, {"a": b"3"}) is False  # stale expectation: nothing changes
    assert await store.replace_meta({"b": None}, {"c": b"x"}) is False
    assert await store.get_meta("a") == b"2" and await store.get_meta("c") is None
    assert await store.replace_meta({"a": b"2"}, {}, delete=("b",)) is True
    assert await store.get_meta("b") is None
    # callers racing to create the same absent row: exactly one wins
    results = await asyncio.gather(*(store.replace_meta({"race": None}, {"race": bytes([i])}) for i in range(6)))
    assert results.count(True) == 1
    assert await store.get_meta("race") == bytes([results.index(True)])


# -- DK-wrapped values (domain-key rotation) ------------------------------------------------------
def wrapped_under(dk_id: int, tag: str) -> bytes:
    return Keyring.dk_id_prefix(dk_id) + tag.encode()


async def test_list_replace_and_count_wrapped_values(store: Store) -> None:
    apps = sorted([new_id() for _ in range(3)])
    for i, appid in enumerate(apps):
        await store.insert_app(AppRecord(appid, wrapped_under(1 if i < 2 else 2, appid), T0))
    key = key_record(apps[0])
    await store.insert_key(key, KeyVersionRecord(key.keyid, 1, wrapped_under(1, "cmk"), T0))
    pending = key_record(apps[0], state=KeyState.PENDING_IMPORT)
    await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))  # no material: never listed

    below = Keyring.dk_id_prefix(2)
    first = await store.list_wrapped("apikey", below, None, 1)
    assert [v.key for v in first] == [(apps[0],)] and first[0].owner == (apps[0],)
    rest = await store.list_wrapped("apikey", below, first[-1].key, 10)
    assert [v.key for v in rest] == [(apps[1],)]  # apps[2] is under DK 2 already
    cmk = await store.list_wrapped("cmk", below, None, 10)
    assert [(v.key, v.owner) for v in cmk] == [((key.keyid, 1), (apps[0], key.keyid, "1", key.keyspec))]
    assert await store.count_wrapped("apikey") == {Keyring.dk_id_prefix(1): 2, Keyring.dk_id_prefix(2): 1}
    assert await store.count_wrapped("cmk") == {Keyring.dk_id_prefix(1): 1}
    assert await store.count_wrapped("secrets_key") == {}

    stale = WrappedValue("apikey", (apps[1],), (apps[1],), b"not what is stored")
    changes = [
        (first[0], wrapped_under(2, "rewrapped")),
        (stale, wrapped_under(2, "lost")),
        (cmk[0], wrapped_under(2, "m")),
    ]
    assert await store.replace_wrapped(changes) == 2  # the stale one is skipped
    assert (await store.get_app(apps[0])).wrapped_apikey == wrapped_under(2, "rewrapped")  # type: ignore[union-attr]
    assert (await store.get_app(apps[1])).wrapped_apikey == wrapped_under(1, apps[1])  # type: ignore[union-attr]
    version = await store.get_key_version(apps[0], key.keyid, 1)
    assert version is not None and version.wrapped_material == wrapped_under(2, "m")
    assert await store.replace_wrapped([]) == 0


# -- secrets --------------------------------------------------------------------------------------
def secret_record(appid: str, name: str, *, keyid: str | None = None) -> SecretRecord:
    return SecretRecord(appid, new_id(), name, "desc", keyid, "30d", T0, T0, 0, 1, None)


def secret_version(secret: SecretRecord, version: int, at: int = T0) -> SecretVersionRecord:
    return SecretVersionRecord(secret.secret_id, version, b"dk%d" % version, b"sealed%d" % version, at)


def sealer(secret: SecretRecord, at: int = T0) -> SealVersion:
    """What the secret service passes: version id -> the version record sealed for that id."""
    return lambda version: secret_version(secret, version, at)


async def test_secrets_key_insert_if_absent(store: Store) -> None:
    appid = await new_app(store)
    assert await store.get_secrets_key(appid) is None
    first = SecretsKeyRecord(appid, new_id(), b"wrapped-1", T0)
    racers = await asyncio.gather(
        store.insert_secrets_key_if_absent(first),
        *(store.insert_secrets_key_if_absent(SecretsKeyRecord(appid, new_id(), b"w", T0)) for _ in range(4)),
    )
    assert len(set(racers)) == 1
    assert await store.get_secrets_key(appid) == racers[0]
    assert await store.get_secrets_key(await new_app(store)) is None


async def test_secret_life_cycle(store: Store) -> None:
    appid, stranger = await new_app(store), await new_app(store)
    secret = secret_record(appid, "db-password")
    assert await store.insert_secret(secret, secret_version(secret, 1), T0) is True
    assert await store.insert_secret(secret_record(appid, "db-password"), secret_version(secret, 1), T0) is False
    assert await store.get_secret(appid, "db-password", T0) == secret
    assert await store.get_secret(stranger, "db-password", T0) is None
    other = secret_record(appid, "api-token")
    await store.insert_secret(replace(other, created_ms=T0 + 5), secret_version(other, 1), T0)
    assert [s.name for s in await store.list_secrets(appid, None, T0, 10)] == ["db-password", "api-token"]
    assert [s.name for s in await store.list_secrets(appid, None, T0, 1)] == ["db-password"]
    assert [s.name for s in await store.list_secrets(appid, "api-token", T0, 10)] == ["api-token"]
    assert await store.list_secrets(stranger, None, T0, 10) == []

    assert await store.update_secret_description(appid, secret.secret_id, "rotated", T0 + 1) is True
    assert await store.update_secret_description(stranger, secret.secret_id, "x", T0 + 1) is False
    got = await store.get_secret(appid, "db-password", T0)
    assert got is not None and (got.description, got.updated_ms) == ("rotated", T0 + 1)

    assert await store.add_secret_version(appid, secret.secret_id, T0 + 2, sealer(secret, T0 + 2)) == 2
    assert await store.add_secret_version(stranger, secret.secret_id, T0 + 3, sealer(secret, T0 + 3)) is None
    assert await store.add_secret_version(appid, new_id(), T0 + 3, sealer(secret, T0 + 3)) is None
    racing = await asyncio.gather(
        *(store.add_secret_version(appid, secret.secret_id, T0 + 4, sealer(secret, T0 + 4)) for _ in range(4))
    )
    assert sorted(racing) == [3, 4, 5, 6]  # concurrent writers all succeed, one version each
    got = await store.get_secret(appid, "db-password", T0)
    assert got is not None and got.latest_version == 6 and got.last_rotation_ms == T0 + 4
    assert await store.get_secret_version(appid, secret.secret_id, 2) == secret_version(secret, 2, T0 + 2)
    assert await store.get_secret_version(stranger, secret.secret_id, 2) is None
    versions = await store.list_secret_versions(appid, secret.secret_id, 10)
    assert [(v.version, v.created_ms) for v in versions] == [(n, T0 + 4) for n in (6, 5, 4, 3)] + [(2, T0 + 2), (1, T0)]
    assert [v.version for v in await store.list_secret_versions(appid, secret.secret_id, 2)] == [6, 5]
    assert await store.list_secret_versions(stranger, secret.secret_id, 10) == []

    assert await store.delete_secret(stranger, secret.secret_id) is False
    assert await store.delete_secret(appid, other.secret_id) is True
    assert await store.get_secret(appid, "api-token", T0) is None
    assert await store.get_secret_version(appid, other.secret_id, 1) is None


async def test_secret_scheduled_deletion_restore_and_purge(store: Store) -> None:
    appid, stranger = await new_app(store), await new_app(store)
    secret = secret_record(appid, "s")
    await store.insert_secret(secret, secret_version(secret, 1), T0)
    assert await store.schedule_secret_deletion(stranger, secret.secret_id, T0 + 100, T0) is False
    assert await store.schedule_secret_deletion(appid, secret.secret_id, T0 + 100, T0) is True
    pending = await store.get_secret(appid, "s", T0 + 99)  # still there until the deletion is due
    assert pending is not None and pending.planned_delete_ms == T0 + 100
    assert await store.update_secret_description(appid, secret.secret_id, "x", T0) is False  # pending deletion
    assert await store.add_secret_version(appid, secret.secret_id, T0, sealer(secret)) is None
    assert await store.restore_secret(stranger, secret.secret_id, T0) is False
    assert await store.restore_secret(appid, secret.secret_id, T0) is True
    restored = await store.get_secret(appid, "s", T0 + 1000)
    assert restored is not None and restored.planned_delete_ms is None

    await store.schedule_secret_deletion(appid, secret.secret_id, T0 + 100, T0)
    assert await store.get_secret(appid, "s", T0 + 100) is None  # due: gone, purged or not
    assert await store.list_secrets(appid, None, T0 + 100, 10) == []
    assert await store.restore_secret(appid, secret.secret_id, T0 + 100) is False
    again = secret_record(appid, "s")  # the name is free once the old one is due
    assert await store.insert_secret(again, secret_version(again, 1), T0 + 100) is True
    doomed = secret_record(appid, "t")
    await store.insert_secret(doomed, secret_version(doomed, 1), T0)
    await store.schedule_secret_deletion(appid, doomed.secret_id, T0 + 50, T0)
    purged = await asyncio.gather(store.purge_secrets(T0 + 200), store.purge_secrets(T0 + 200))
    assert sum(purged) == 1  # several nodes purging at once remove each due secret once
    assert await store.get_secret_version(appid, doomed.secret_id, 1) is None
    assert await store.get_secret(appid, "s", T0 + 200) is not None


# -- quote policies -------------------------------------------------------------------------------
async def test_quote_policies(store: Store) -> None:
    appid, stranger = await new_app(store), await new_app(store)
    sgx = QuotePolicyRecord(appid, new_id(), "a" * 64, "b" * 64, None, (None, None, None, None), T0)
    tdx = QuotePolicyRecord(appid, new_id(), None, None, "c" * 96, ("d" * 96, None, "e" * 96, None), T0 + 1)
    await store.insert_quote_policy(sgx)
    await store.insert_quote_policy(tdx)
    assert await store.get_quote_policy(appid, sgx.policy_id) == sgx
    assert await store.get_quote_policy(appid, tdx.policy_id) == tdx
    assert await store.get_quote_policy(stranger, sgx.policy_id) is None
    assert await store.get_quote_policy(appid, new_id()) is None
    with pytest.raises(DUPLICATE):
        await store.insert_quote_policy(sgx)


# -- BYOK import parameters -----------------------------------------------------------------------
def awaiting_import(appid: str) -> KeyRecord:
    """An external key awaiting its material (the only kind that takes import parameters)."""
    return replace(key_record(appid, state=KeyState.PENDING_IMPORT), origin="EH_EXTERNAL_KEY")


def import_params(appid: str, keyid: str, token: str = "t1", expires: int = T0 + 1000) -> ImportParamsRecord:
    return ImportParamsRecord(appid, keyid, token, "EH_RSA_3072", b"spki", b"wrapped-private", T0, expires)


async def test_import_params_only_for_an_external_key_of_the_app(store: Store) -> None:
    appid, stranger = await new_app(store), await new_app(store)
    pending = awaiting_import(appid)
    await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))
    enabled = await new_key(store, appid)  # origin EH_INTERNAL_KEY
    assert await store.put_import_params(import_params(appid, enabled.keyid)) is False
    leaving = replace(key_record(appid, state=KeyState.PENDING_DELETION), origin="EH_EXTERNAL_KEY")
    await store.insert_key(leaving, KeyVersionRecord(leaving.keyid, 1, b"material", T0))
    assert await store.put_import_params(import_params(appid, leaving.keyid)) is False
    assert await store.put_import_params(import_params(stranger, pending.keyid)) is False
    assert await store.put_import_params(import_params(appid, pending.keyid)) is True
    assert await store.get_import_params(appid, pending.keyid) == import_params(appid, pending.keyid)
    assert await store.get_import_params(stranger, pending.keyid) is None

    assert await store.count_import_failure(appid, pending.keyid, "t1", 3) is True
    assert await store.count_import_failure(appid, pending.keyid, "other-token", 3) is False
    got = await store.get_import_params(appid, pending.keyid)
    assert got is not None and got.failures == 1
    assert await store.put_import_params(import_params(appid, pending.keyid, "t2")) is True  # replaced, reset
    got = await store.get_import_params(appid, pending.keyid)
    assert got is not None and (got.token_id, got.failures) == ("t2", 0)
    assert await store.count_import_failure(appid, pending.keyid, "t2", 2) is True
    assert await store.count_import_failure(appid, pending.keyid, "t2", 2) is False  # the limit deletes them
    assert await store.get_import_params(appid, pending.keyid) is None


async def test_install_key_material_once(store: Store) -> None:
    appid, stranger = await new_app(store), await new_app(store)
    pending = awaiting_import(appid)
    await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))
    assert await store.get_key(appid, pending.keyid) is not None  # cached where a cache exists
    await store.put_import_params(import_params(appid, pending.keyid))
    assert await store.install_key_material(appid, pending.keyid, "wrong-token", b"m") is False
    assert await store.install_key_material(stranger, pending.keyid, "t1", b"m") is False
    still = await store.get_key(appid, pending.keyid)
    assert still is not None and still.state is KeyState.PENDING_IMPORT  # all or nothing
    assert await store.get_import_params(appid, pending.keyid) is not None
    assert await store.install_key_material(appid, pending.keyid, "t1", b"material") is True
    got = await store.get_key(appid, pending.keyid)
    assert got is not None and got.state is KeyState.ENABLED
    version = await store.get_key_version(appid, pending.keyid, 1)
    assert version is not None and version.wrapped_material == b"material"
    assert await store.get_import_params(appid, pending.keyid) is None
    assert await store.install_key_material(appid, pending.keyid, "t1", b"again") is False


async def test_purge_expired_import_params(store: Store) -> None:
    appid = await new_app(store)
    keyids = []
    for expires in (T0 + 10, T0 + 20, T0 + 30):
        pending = awaiting_import(appid)
        await store.insert_key(pending, KeyVersionRecord(pending.keyid, 1, None, T0))
        await store.put_import_params(import_params(appid, pending.keyid, expires=expires))
        keyids.append(pending.keyid)
    purged = await asyncio.gather(store.purge_import_params(T0 + 20), store.purge_import_params(T0 + 20))
    assert sum(purged) == 2
    assert [await store.get_import_params(appid, k) is not None for k in keyids] == [False, False, True]


# -- key metadata: descriptions, paging, aliases, tags, scheduled deletion ------------------------------
async def test_list_keys_pages_after_a_marker(store: Store) -> None:
    appid = await new_app(store)
    keys = [await new_key(store, appid, created=T0 + i // 2) for i in range(5)]  # two keys share each time
    ordered = sorted(keys, key=lambda k: (k.created_ms, k.keyid))
    first = await store.list_keys(appid, 2)
    assert [k.keyid for k in first] == [k.keyid for k in ordered[:2]]
    rest = await store.list_keys(appid, 10, (first[-1].created_ms, first[-1].keyid))
    assert [k.keyid for k in rest] == [k.keyid for k in ordered[2:]]
    assert await store.list_keys(appid, None, (ordered[-1].created_ms, ordered[-1].keyid)) == []


async def test_key_description(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    record = await new_key(store, appid)
    assert (await store.get_key(appid, record.keyid)).description == ""  # type: ignore[union-attr]
    assert await store.set_key_description(appid, record.keyid, "payments\tkey") is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.description == "payments\tkey"
    assert await store.set_key_description(other, record.keyid, "stolen") is False
    assert (await store.get_key(appid, record.keyid)).description == "payments\tkey"  # type: ignore[union-attr]


async def test_aliases_are_unique_per_app_and_go_with_their_key(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    a, b = await new_key(store, appid), await new_key(store, appid)
    theirs = await new_key(store, other)
    assert await store.create_alias(appid, "alias/x", a.keyid, T0) is True
    assert await store.create_alias(appid, "alias/x", b.keyid, T0) is False  # taken
    assert await store.create_alias(other, "alias/x", theirs.keyid, T0) is True  # another app's namespace
    assert await store.create_alias(other, "alias/y", a.keyid, T0) is False  # not the app's key
    assert await store.create_alias(appid, "alias/z", new_id(), T0) is False
    assert await store.get_alias(appid, "alias/x") == a.keyid
    assert await store.get_alias(other, "alias/x") == theirs.keyid
    assert await store.update_alias(appid, "alias/x", b.keyid) is True
    assert await store.get_alias(appid, "alias/x") == b.keyid
    assert await store.update_alias(appid, "alias/x", theirs.keyid) is False  # another app's key
    assert await store.update_alias(appid, "alias/none", a.keyid) is False
    await store.create_alias(appid, "alias/a", b.keyid, T0 + 1)
    await store.create_alias(appid, "alias/m", a.keyid, T0 + 2)
    names = [r.alias for r in await store.list_aliases(appid)]
    assert names == ["alias/a", "alias/m", "alias/x"]
    assert [r.alias for r in await store.list_aliases(appid, b.keyid)] == ["alias/a", "alias/x"]
    assert [r.alias for r in await store.list_aliases(appid, None, 1, "alias/a")] == ["alias/m"]
    assert await store.list_aliases(appid, theirs.keyid) == []
    assert await store.delete_alias(other, "alias/m") is False
    assert await store.delete_alias(appid, "alias/m") is True
    assert await store.delete_alias(appid, "alias/m") is False
    assert await store.delete_key(appid, b.keyid) is True  # its aliases go with it
    assert await store.get_alias(appid, "alias/x") is None and await store.list_aliases(appid) == []
    assert await store.get_alias(other, "alias/x") == theirs.keyid


async def test_tags_limit_and_isolation(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    record = await new_key(store, appid)
    assert await store.tag_key(appid, record.keyid, {"env": "prod", "team": ""}, 3) == 2
    assert await store.tag_key(appid, record.keyid, {"env": "dev"}, 3) == 2  # overwritten, not added
    assert await store.tag_key(appid, record.keyid, {"a": "1", "b": "2"}, 3) == 4  # over the limit: nothing written
    assert await store.list_key_tags(appid, record.keyid) == {"env": "dev", "team": ""}
    assert await store.tag_key(other, record.keyid, {"x": "y"}, 3) is None
    assert await store.list_key_tags(other, record.keyid) == {}
    assert await store.untag_key(other, record.keyid, ["env"]) is False
    assert await store.untag_key(appid, record.keyid, ["env", "absent"]) is True
    assert await store.list_key_tags(appid, record.keyid) == {"team": ""}
    await store.delete_key(appid, record.keyid)
    assert await store.untag_key(appid, record.keyid, ["team"]) is False
    assert await store.tag_key(appid, record.keyid, {"x": "y"}, 3) is None


async def test_key_policies_are_per_key_replaced_isolated_and_go_with_their_key(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    record, kept = await new_key(store, appid), await new_key(store, appid)
    assert await store.get_key_policy(appid, record.keyid, "default") is None  # never put
    assert await store.put_key_policy(appid, record.keyid, "default", '{"v": 1}', T0) is True
    assert await store.put_key_policy(appid, record.keyid, "default", '{"v": 2}', T0 + 1) is True  # replaced
    assert await store.put_key_policy(appid, kept.keyid, "default", '{"kept": true}', T0) is True
    assert await store.get_key_policy(appid, record.keyid, "default") == '{"v": 2}'
    assert await store.get_key_policy(appid, record.keyid, "other") is None
    assert await store.put_key_policy(other, record.keyid, "default", "{}", T0) is False  # another app's key
    assert await store.get_key_policy(other, record.keyid, "default") is None
    assert await store.put_key_policy(appid, new_id(), "default", "{}", T0) is False  # no such key
    await store.schedule_key_deletion(appid, record.keyid, T0 + 100)
    assert await store.purge_due_keys(T0 + 100, 10) == [(appid, record.keyid)]  # the purge path
    assert await store.get_key_policy(appid, record.keyid, "default") is None
    assert await store.delete_key(appid, kept.keyid) is True  # the direct deletion path
    assert await store.get_key_policy(appid, kept.keyid, "default") is None


async def test_scheduled_deletion_cancel_and_purge(store: Store) -> None:
    appid, other = await new_app(store), await new_app(store)
    record, kept = await new_key(store, appid), await new_key(store, appid)
    await store.create_alias(appid, "alias/doomed", record.keyid, T0)
    await store.tag_key(appid, record.keyid, {"k": "v"}, 50)
    assert await store.get_key(appid, record.keyid) is not None  # cached where a cache exists
    assert await store.schedule_key_deletion(other, record.keyid, T0 + 100) is False
    assert await store.schedule_key_deletion(appid, record.keyid, T0 + 100) is True
    assert await store.schedule_key_deletion(appid, record.keyid, T0 + 200) is False  # already pending
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.state is KeyState.PENDING_DELETION and got.deletion_ms == T0 + 100
    assert await store.set_key_state(appid, record.keyid, KeyState.ENABLED) is False  # no way around it
    assert await store.cancel_key_deletion(other, record.keyid) is False
    assert await store.cancel_key_deletion(appid, record.keyid) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.state is KeyState.DISABLED and got.deletion_ms is None
    assert await store.cancel_key_deletion(appid, record.keyid) is False  # not pending any more
    await store.schedule_key_deletion(appid, record.keyid, T0 + 100)
    assert await store.purge_due_keys(T0 + 99, 10) == []
    assert await store.purge_due_keys(T0 + 100, 10) == [(appid, record.keyid)]
    assert await store.purge_due_keys(T0 + 100, 10) == []
    assert await store.get_key(appid, record.keyid) is None
    assert await store.get_alias(appid, "alias/doomed") is None
    assert await store.list_key_tags(appid, record.keyid) == {}
    assert await store.get_key(appid, kept.keyid) is not None


async def test_cancelled_deletion_of_a_key_without_material_awaits_it_again(store: Store) -> None:
    appid = await new_app(store)
    record = awaiting_import(appid)
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, None, T0))
    assert await store.schedule_key_deletion(appid, record.keyid, T0 + 100) is True
    assert await store.cancel_key_deletion(appid, record.keyid) is True
    got = await store.get_key(appid, record.keyid)
    assert got is not None and got.state is KeyState.PENDING_IMPORT


async def test_concurrent_purges_delete_each_due_key_once(store: Store) -> None:
    appid = await new_app(store)
    due = {(await new_key(store, appid)).keyid for _ in range(12)}
    for keyid in due:
        await store.schedule_key_deletion(appid, keyid, T0)
    results = await asyncio.gather(*(store.purge_due_keys(T0, 5) for _ in range(4)))
    deleted = [keyid for result in results for _, keyid in result]
    assert len(deleted) == len(set(deleted))
    while more := await store.purge_due_keys(T0, 5):
        deleted += [keyid for _, keyid in more]
    assert sorted(deleted) == sorted(due)


# -- export / import (PortableStore) --------------------------------------------------------------
async def test_portable_tables_dump_and_count(store: Store) -> None:
    portable = store
    assert isinstance(portable, PortableStore)
    tables = {t.name: t for t in await portable.tables()}
    assert {"meta", "apps", "keys", "key_versions"} <= tables.keys()
    assert "schema_version" not in tables and "replay" not in tables
    assert tables["keys"].parents == {"apps"} and tables["key_versions"].parents == {"keys"}
    assert tables["key_aliases"].parents == {"keys"} and tables["key_tags"].parents == {"keys"}
    assert tables["key_policies"].parents == {"keys"}
    assert await portable.schema_version() >= 1
    appid = await new_app(store)
    await new_key(store, appid)
    assert await portable.count_rows(tables["apps"]) == 1
    dumped = [row async for _, rows in portable.dump([tables["apps"]], batch=1) for row in rows]
    assert len(dumped) == 1 and dumped[0][tables["apps"].columns.index("appid")] == appid
    assert isinstance(dumped[0][tables["apps"].columns.index("wrapped_apikey")], bytes)


# -- imported key material: new versions, deletion, expiry (services/byok.py) ----------------------
ID_A, ID_B = "a" * 64, "b" * 64


def imported_sealer(key: KeyRecord, material: bytes, material_id: str) -> SealKeyVersion:
    def seal(version: int) -> KeyVersionRecord:
        return KeyVersionRecord(
            key.keyid, version, material, T0 + version, source=VersionSource.IMPORTED, material_id=material_id
        )

    return seal


async def awaiting_key(store: Store, appid: str) -> KeyRecord:
    record = awaiting_import(appid)
    await store.insert_key(record, KeyVersionRecord(record.keyid, 1, None, T0))
    return record


async def imported_key(store: Store, appid: str, *, expires_ms: int | None = None) -> KeyRecord:
    """An external key with its first material (id ID_A) imported."""
    key = await awaiting_key(store, appid)
    params = import_params(key.appid, key.keyid, new_id())
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
    params = import_params(key.appid, key.keyid, new_id())
    assert await store.put_import_params(params)
    seal = imported_sealer(key, b"material-b", ID_B)
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
    params = import_params(key.appid, key.keyid, new_id())
    assert await store.put_import_params(params)
    seal = imported_sealer(key, b"material-b", ID_B)
    added = await store.add_imported_key_version(
        appid, key.keyid, params.token_id, seal, make_primary=False, expires_ms=None
    )
    assert added is not None and added.version == 2
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.primary_version == 1

    again = import_params(key.appid, key.keyid, new_id())
    assert await store.put_import_params(again)
    third = imported_sealer(key, b"material-c", "c" * 64)
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
    pending = await awaiting_key(store, appid)
    params = import_params(pending.appid, pending.keyid, new_id())
    assert await store.put_import_params(params)
    seal = imported_sealer(pending, b"m", ID_B)
    assert (
        await store.add_imported_key_version(
            appid, pending.keyid, params.token_id, seal, make_primary=True, expires_ms=None
        )
        is None
    )
    disabled = await imported_key(store, appid)
    assert await store.set_key_state(appid, disabled.keyid, KeyState.DISABLED)
    params = import_params(disabled.appid, disabled.keyid, new_id())
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

    params = import_params(key.appid, key.keyid, new_id())
    assert await store.put_import_params(params)
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"other", ID_B) is False
    assert await store.install_key_material(appid, key.keyid, params.token_id, b"material-a", ID_A) is True
    got = await store.get_key(appid, key.keyid)
    assert got is not None and got.state is KeyState.ENABLED


async def test_delete_sets_a_missing_id_and_a_key_pending_deletion_stays_so(store: Store) -> None:
    appid = await new_app(store)
    key = await awaiting_key(store, appid)
    params = import_params(key.appid, key.keyid, new_id())
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
    internal = await new_key(store, appid)
    assert await store.expire_key_material(T0 + 5, 100) == [(appid, key.keyid)]
    version = await store.get_key_version(appid, internal.keyid, 1)
    assert version is not None and version.wrapped_material == b"material:" + internal.keyid.encode()
    assert await store.delete_key_material(appid, replace(internal, keyid=new_id()).keyid, ID_A) is False


# -- the contract covers the whole protocol -------------------------------------------------------
def store_methods() -> list[str]:
    return sorted(name for name, value in vars(Store).items() if callable(value) and not name.startswith("_"))


def test_every_store_method_is_exercised_by_this_suite() -> None:
    source = inspect.getsource(inspect.getmodule(test_every_store_method_is_exercised_by_this_suite))  # type: ignore[arg-type]
    missing = [name for name in store_methods() if f"store.{name}(" not in source]
    assert not missing, f"Store methods without a contract test: {missing}"


@pytest.mark.parametrize("implementation", [SqliteStore, PostgresStore])
def test_every_store_defines_every_store_method(implementation: type) -> None:
    missing = [name for name in store_methods() if not callable(getattr(implementation, name, None))]
    assert not missing, f"{implementation.__name__} lacks these Store methods: {missing}"
