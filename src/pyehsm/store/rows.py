"""Column lists and row decoders shared by both stores' modules (store/sqlite/ and store/postgres/): the same
columns in the same order; the decoders convert every value, so SQLite's and psycopg's row types both fit.
SQL that differs by placeholder style (``SECRET_LIVE``) stays in each store's own rows.py."""

from __future__ import annotations

from typing import Any

from pyehsm.store.limits import MAX_BULK_KEYS
from pyehsm.store.records import KeyRecord, KeyState, KeyVersionRecord, KeyVersionState, SecretRecord, VersionSource

KEY_COLUMNS = (
    "appid, keyid, keyspec, origin, keyusage, state, alias, created_ms, expire_ms, primary_version, "
    "rotation_period_days, next_rotation_ms, description, deletion_ms, min_decryption_version, release_policy, "
    "material_expires_ms"
)


VERSION_COLUMNS = "v.keyid, v.version, v.wrapped_material, v.created_ms, v.state, v.source, v.material_id"
# A key row (KEY_COLUMNS of k) and its primary version's wrapped material, in one statement; the caller appends
# "k.keyid = ? AND k.appid = ?" in its placeholder style (get_key_and_primary).
KEY_AND_PRIMARY = (
    "SELECT " + ", ".join(f"k.{c.strip()}" for c in KEY_COLUMNS.split(",")) + ", v.wrapped_material FROM keys k "
    "LEFT JOIN key_versions v ON v.keyid = k.keyid AND v.version = k.primary_version WHERE "
)
# The key_versions columns an INSERT names, in version_params order after keyid.
VERSION_INSERT = "key_versions (keyid, version, wrapped_material, created_ms, state, source, material_id)"
DAY_MS = 86_400_000
# The state CancelKeyDeletion gives a key back: disabled, as AWS KMS does, or pending_import for an external key
# whose material was never imported (SQL over its keys row).
CANCELLED_STATE = (
    "(CASE WHEN EXISTS (SELECT 1 FROM key_versions v WHERE v.keyid = keys.keyid AND v.version = keys.primary_version "
    "AND v.wrapped_material IS NOT NULL) "
    "THEN 'disabled' ELSE 'pending_import' END)"
)
SECRET_COLUMNS = (
    "appid, secret_id, name, description, encryption_keyid, rotation_interval, created_ms, updated_ms, "
    "last_rotation_ms, latest_version, planned_delete_ms, release_policy"
)


QUOTE_POLICY_COLUMNS = "appid, policy_id, mr_enclave, mr_signer, mr_td, rtmr0, rtmr1, rtmr2, rtmr3, created_ms"
IMPORT_COLUMNS = (
    "appid, keyid, token_id, wrapping_keyspec, public_key, wrapped_private_key, created_ms, expires_ms, failures"
)


def key_from_row(row: tuple[object, ...]) -> KeyRecord:
    (
        appid,
        keyid,
        keyspec,
        origin,
        keyusage,
        state,
        alias,
        created,
        expire,
        primary,
        period,
        next_ms,
        desc,
        del_ms,
        min_dv,
        release,
        expires,
    ) = row
    return KeyRecord(
        appid=str(appid),
        keyid=str(keyid),
        keyspec=str(keyspec),
        origin=str(origin),
        keyusage=str(keyusage),
        state=KeyState(state),
        alias=str(alias),
        created_ms=int(created),  # type: ignore[call-overload]
        expire_ms=int(expire),  # type: ignore[call-overload]
        primary_version=int(primary),  # type: ignore[call-overload]
        rotation_period_days=int(period) if period is not None else None,  # type: ignore[call-overload]
        next_rotation_ms=int(next_ms) if next_ms is not None else None,  # type: ignore[call-overload]
        description=str(desc),
        deletion_ms=int(del_ms) if del_ms is not None else None,  # type: ignore[call-overload]
        min_decryption_version=int(min_dv),  # type: ignore[call-overload]
        release_policy=str(release) if release is not None else None,
        material_expires_ms=int(expires) if expires is not None else None,  # type: ignore[call-overload]
    )


def version_from_row(row: tuple[Any, ...]) -> KeyVersionRecord:
    keyid, version, material, created, state, source, material_id = row
    return KeyVersionRecord(
        str(keyid),
        int(version),
        bytes(material) if material is not None else None,
        int(created),
        KeyVersionState(state),
        VersionSource(source),
        str(material_id) if material_id is not None else None,
    )


def key_params(key: KeyRecord) -> tuple[Any, ...]:
    """A key row's values in KEY_COLUMNS order."""
    return (
        key.appid,
        key.keyid,
        key.keyspec,
        key.origin,
        key.keyusage,
        key.state.value,
        key.alias,
        key.created_ms,
        key.expire_ms,
        key.primary_version,
        key.rotation_period_days,
        key.next_rotation_ms,
        key.description,
        key.deletion_ms,
        key.min_decryption_version,
        key.release_policy,
        key.material_expires_ms,
    )


KEY_COLUMN_COUNT = len(KEY_COLUMNS.split(","))
VERSION_INSERT_COUNT = len(VERSION_INSERT.split(","))  # keyid and version_params


def check_bulk(keys: list[tuple[KeyRecord, KeyVersionRecord]]) -> None:
    """Store.insert_keys' bounds: at most MAX_BULK_KEYS pairs, each version naming its own key."""
    if len(keys) > MAX_BULK_KEYS:
        raise ValueError(f"insert_keys takes at most {MAX_BULK_KEYS} keys per call")
    if any(key.keyid != version.keyid for key, version in keys):
        raise ValueError("insert_keys: a version names another key")


def version_params(version: KeyVersionRecord) -> tuple[Any, ...]:
    return (
        version.version,
        version.wrapped_material,
        version.created_ms,
        version.state.value,
        version.source.value,
        version.material_id,
    )


def secret_from_row(row: tuple[object, ...]) -> SecretRecord:
    appid, secret_id, name, description, keyid, interval, created, updated, rotated, latest, planned, release = row
    return SecretRecord(
        appid=str(appid),
        secret_id=str(secret_id),
        name=str(name),
        description=str(description),
        encryption_keyid=str(keyid) if keyid is not None else None,
        rotation_interval=str(interval),
        created_ms=int(created),  # type: ignore[call-overload]
        updated_ms=int(updated),  # type: ignore[call-overload]
        last_rotation_ms=int(rotated),  # type: ignore[call-overload]
        latest_version=int(latest),  # type: ignore[call-overload]
        planned_delete_ms=int(planned) if planned is not None else None,  # type: ignore[call-overload]
        release_policy=str(release) if release is not None else None,
    )
