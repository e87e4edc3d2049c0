"""Key versions (docs/key-rotation.md): RotateKey, UpdateKeyRotation, ListKeyRotations, UpdateKeyVersionPolicy,
ReEncrypt. pyehsm Actions beyond eHSM, in the same signed envelope."""

from __future__ import annotations

from typing import Annotated

import msgspec

from pyehsm.protocols.ehsm.actions.symmetric import b64
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import Aad, Ciphertext, KeyId
from pyehsm.services.container import Services
from pyehsm.store.records import KeyRecord, KeyVersionInfo, VersionSource

MAX_VERSION = 2**32 - 1  # the ciphertext header holds the version as a u32


class RotateKeyPayload(msgspec.Struct):
    keyid: KeyId


class UpdateKeyRotationPayload(msgspec.Struct):
    keyid: KeyId
    rotationPeriodInDays: int | None = None  # 0 or absent: automatic rotation off


class ListKeyRotationsPayload(msgspec.Struct):
    keyid: KeyId


class UpdateKeyVersionPolicyPayload(msgspec.Struct):
    keyid: KeyId
    minDecryptionVersion: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]


class ReEncryptPayload(msgspec.Struct):
    keyid: KeyId
    ciphertext: Ciphertext
    destinationKeyId: KeyId
    aad: Aad | None = None
    destinationAad: Aad | None = None


ROTATION_TYPES = {
    VersionSource.CREATED: "Created",
    VersionSource.ON_DEMAND: "OnDemand",
    VersionSource.AUTOMATIC: "Automatic",
    VersionSource.IMPORTED: "Imported",
}


def rotation_settings(record: KeyRecord) -> dict[str, object]:
    return {
        "keyid": record.keyid,
        "rotationPeriodInDays": record.rotation_period_days or 0,
        "nextRotationDate": record.next_rotation_ms,
        "primaryVersion": record.primary_version,
        "minDecryptionVersion": record.min_decryption_version,
    }


def version_summary(record: KeyRecord, v: KeyVersionInfo) -> dict[str, object]:
    usable = v.has_material and v.version >= record.min_decryption_version
    state = "Enabled" if usable else ("PendingImport" if not v.has_material else "Disabled")
    if v.has_material and v.version > record.primary_version:  # imported, waiting for RotateKey
        state = "PendingRotation"
    return {
        "version": v.version,
        "creationDate": v.created_ms,
        "rotationType": ROTATION_TYPES[v.source],
        "state": state,
        "primary": v.version == record.primary_version,
    }


async def rotate_key(svc: Services, caller: Caller, p: RotateKeyPayload) -> Reply:
    v = await svc.rotation.rotate(caller.appid, p.keyid)
    return Reply({"keyid": p.keyid, "version": v.version, "creationDate": v.created_ms}, keyid=p.keyid)


async def update_key_rotation(svc: Services, caller: Caller, p: UpdateKeyRotationPayload) -> Reply:
    record = await svc.rotation.set_rotation(caller.appid, p.keyid, p.rotationPeriodInDays)
    return Reply(rotation_settings(record), keyid=p.keyid)


async def list_key_rotations(svc: Services, caller: Caller, p: ListKeyRotationsPayload) -> Reply:
    found = await svc.rotation.list_versions(caller.appid, p.keyid)
    versions = [version_summary(found.key, v) for v in found.versions]
    return Reply({**rotation_settings(found.key), "versions": versions}, keyid=p.keyid)


async def update_key_version_policy(svc: Services, caller: Caller, p: UpdateKeyVersionPolicyPayload) -> Reply:
    record = await svc.rotation.set_min_decryption_version(caller.appid, p.keyid, p.minDecryptionVersion)
    return Reply(rotation_settings(record), keyid=p.keyid)


async def reencrypt(svc: Services, caller: Caller, p: ReEncryptPayload) -> Reply:
    out = await svc.rotation.reencrypt(
        caller.appid, p.keyid, p.ciphertext, p.aad or b"", p.destinationKeyId, p.destinationAad or b""
    )
    result = {
        "ciphertext": b64(out.ciphertext),
        "sourceKeyId": p.keyid,
        "sourceKeyVersion": out.source_version,
        "keyid": p.destinationKeyId,
        "keyVersion": out.version,
    }
    return Reply(result, keyid=p.keyid)
