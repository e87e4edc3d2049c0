"""Store contract for key release (store/release_protocol.py), on SQLite and PostgreSQL: release policies on
key and secret rows (compare and set, tenancy, the row cache sees the change), and single-use attestation
nonces (once, expiry, per app, the per-app limit, concurrent consumers on one database)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pyehsm.store.base import Store
from pyehsm.store.records import KeyVersionRecord, SecretRecord, SecretVersionRecord
from tests.integration.stores import T0, new_app, new_id
from tests.integration.test_store_contract import key_record, new_key

POLICY = '{"anyOf":[{"mrEnclave":"' + "ab" * 32 + '","tcbStatuses":["UpToDate"],"tee":"SGX"}]}'
OTHER = POLICY.replace("ab", "cd")


async def test_a_key_is_created_with_its_policy(store: Store) -> None:
    appid = await new_app(store)
    gated = replace(key_record(appid), release_policy=POLICY)
    await store.insert_key(gated, KeyVersionRecord(gated.keyid, 1, b"m", T0))
    got = await store.get_key(appid, gated.keyid)
    assert got is not None and got.release_policy == POLICY


async def test_key_policy_compare_and_set(store: Store) -> None:
    appid, other_app = await new_app(store), await new_app(store)
    key = await new_key(store, appid)
    assert (await store.get_key(appid, key.keyid)).release_policy is None  # type: ignore[union-attr]
    assert not await store.set_key_release_policy(other_app, key.keyid, POLICY, None)  # tenancy
    assert not await store.set_key_release_policy(appid, key.keyid, POLICY, OTHER)  # not the current one
    assert await store.set_key_release_policy(appid, key.keyid, POLICY, None)
    assert (await store.get_key(appid, key.keyid)).release_policy == POLICY  # type: ignore[union-attr]
    assert not await store.set_key_release_policy(appid, key.keyid, None, None)  # stale expectation
    assert await store.set_key_release_policy(appid, key.keyid, OTHER, POLICY)
    assert await store.set_key_release_policy(appid, key.keyid, None, OTHER)
    assert (await store.get_key(appid, key.keyid)).release_policy is None  # type: ignore[union-attr]
    assert not await store.set_key_release_policy(appid, new_id(), POLICY, None)


async def test_secret_policy_compare_and_set(store: Store) -> None:
    appid = await new_app(store)
    secret = SecretRecord(appid, new_id(), "s", "", None, "30d", T0, T0, 0, 1, None, POLICY)
    assert await store.insert_secret(secret, SecretVersionRecord(secret.secret_id, 1, b"w", b"v", T0), T0)
    got = await store.get_secret(appid, "s", T0)
    assert got is not None and got.release_policy == POLICY
    assert not await store.set_secret_release_policy(appid, secret.secret_id, None, None, T0 + 1)
    assert await store.set_secret_release_policy(appid, secret.secret_id, None, POLICY, T0 + 1)
    got = await store.get_secret(appid, "s", T0 + 1)
    assert got is not None and got.release_policy is None and got.updated_ms == T0 + 1
    assert await store.schedule_secret_deletion(appid, secret.secret_id, T0 + 10_000, T0 + 2)
    assert not await store.set_secret_release_policy(appid, secret.secret_id, POLICY, None, T0 + 3)  # not live


async def test_a_nonce_is_spent_once(store: Store) -> None:
    appid, other_app = await new_app(store), await new_app(store)
    nonce = new_id().replace("-", "")
    assert await store.insert_attestation_nonce(appid, nonce, T0 + 300_000, T0, 10)
    assert not await store.consume_attestation_nonce(other_app, nonce, T0 + 1)  # another app's
    assert await store.consume_attestation_nonce(appid, nonce, T0 + 1)
    assert not await store.consume_attestation_nonce(appid, nonce, T0 + 2)  # spent
    assert not await store.consume_attestation_nonce(appid, "00" * 32, T0 + 2)  # unknown


async def test_an_expired_nonce_is_refused_and_purged(store: Store) -> None:
    appid = await new_app(store)
    stale, fresh = "aa" * 32, "bb" * 32
    assert await store.insert_attestation_nonce(appid, stale, T0 + 300_000, T0, 2)
    assert not await store.consume_attestation_nonce(appid, stale, T0 + 300_000)  # valid strictly before expiry
    # at the limit of 2 live nonces the expired one no longer counts: it is deleted by the next insert
    assert await store.insert_attestation_nonce(appid, fresh, T0 + 600_000, T0 + 300_000, 1)
    assert not await store.insert_attestation_nonce(appid, "cc" * 32, T0 + 600_000, T0 + 300_001, 1)  # limit
    assert await store.insert_attestation_nonce(await new_app(store), "dd" * 32, T0 + 600_000, T0 + 300_001, 1)


async def test_concurrent_consumers_spend_a_nonce_once(store: Store) -> None:
    appid = await new_app(store)
    nonce = "ee" * 32
    assert await store.insert_attestation_nonce(appid, nonce, T0 + 300_000, T0, 10)
    results = await asyncio.gather(*(store.consume_attestation_nonce(appid, nonce, T0 + 1) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
