"""Secrets manager actions (docs/protocol.md section 5): CreateSecret, UpdateSecretDesc, PutSecretValue,
ListSecretVersionIds, ListSecrets, DescribeSecret, DeleteSecret, GetSecretValue, RestoreSecret.

String fields are taken exactly as received (never trimmed or re-encoded); their limits count characters.
Names and descriptions may hold whitespace (tab, newlines; docs/protocol.md) but no other control character;
secret data may hold anything.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

import msgspec

from pyehsm.protocols.ehsm.bundle import Attestation, bundle_of
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import identifier, text
from pyehsm.services.container import Services
from pyehsm.services.release_policies import PolicyText, parse
from pyehsm.services.secrets import (
    DEFAULT_RECOVERY_DAYS,
    MAX_DATA_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_RECOVERY_DAYS,
    MIN_RECOVERY_DAYS,
    force_delete_flag,
    next_rotation_ms,
)
from pyehsm.store.records import SecretRecord

SecretName = Annotated[str, text(MAX_NAME_CHARS, min_length=1)]
SecretData = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DATA_CHARS)]  # encrypted: any text
Description = Annotated[str, text(MAX_DESCRIPTION_CHARS)]
RotationInterval = Annotated[str, identifier(max_length=16)]
EncryptionKeyId = Annotated[str, identifier(max_length=64)]
RecoveryPeriod = Annotated[int, msgspec.Meta(ge=MIN_RECOVERY_DAYS, le=MAX_RECOVERY_DAYS)]
VersionId = Annotated[int, msgspec.Meta(ge=1)]


class CreateSecretPayload(msgspec.Struct):
    secretName: SecretName
    secretData: SecretData
    encryptionKeyId: EncryptionKeyId | None = None  # absent or "": the app's default secrets key
    description: Description | None = None
    rotationInterval: RotationInterval | None = None  # absent or "": 30d
    releasePolicy: PolicyText | None = None  # docs/key-release.md: a JSON document, as text


class UpdateSecretDescPayload(msgspec.Struct):
    secretName: SecretName
    description: Description | None = None


class PutSecretValuePayload(msgspec.Struct):
    secretName: SecretName
    secretData: SecretData


class SecretNamePayload(msgspec.Struct):
    secretName: SecretName


class ListSecretsPayload(msgspec.Struct):
    secretName: Annotated[str, text(MAX_NAME_CHARS)] | None = None  # absent or "": all


class DeleteSecretPayload(msgspec.Struct):
    secretName: SecretName
    recoveryPeriod: RecoveryPeriod | None = None
    forceDelete: Any = None  # a STRING "true"/"false"; checked by the service for its own message
    force_delete: Any = None  # the Python SDK's spelling


class GetSecretValuePayload(msgspec.Struct):
    secretName: SecretName
    versionId: VersionId | None = None
    attestation: Attestation | None = None  # docs/key-release.md: answer ciphertextForRecipient, not secretData


def secret_summary(record: SecretRecord) -> dict[str, object]:
    summary: dict[str, object] = {
        "secretName": record.name,
        "description": record.description,
        "createTime": record.created_ms,
    }
    if record.planned_delete_ms is not None:
        summary["plannedDeleteTime"] = record.planned_delete_ms
    return summary


def secret_description(record: SecretRecord) -> dict[str, object]:
    result = secret_summary(record)
    result.update(
        {
            # Always sent (0 when not pending deletion): Intel's Python SDK model requires the field.
            "plannedDeleteTime": record.planned_delete_ms or 0,
            "rationalInterval": record.rotation_interval,  # sic: the spelling the Python SDK reads
            "rotationInterval": record.rotation_interval,
            "lastRotationDate": record.last_rotation_ms,
            "nextRotationDate": next_rotation_ms(record),
            "updateTime": record.updated_ms,  # pyehsm extension
        }
    )
    return result


async def create_secret(svc: Services, caller: Caller, p: CreateSecretPayload) -> Reply:
    await svc.secrets.create(
        caller.appid,
        p.secretName,
        p.secretData,
        encryption_keyid=p.encryptionKeyId or None,
        description=p.description or "",
        rotation_interval=p.rotationInterval or None,
        release_policy=parse(p.releasePolicy).canonical_json() if p.releasePolicy else None,
    )
    return Reply(message=f"The {p.secretName} create success.", keyid=p.encryptionKeyId or None)


async def update_secret_desc(svc: Services, caller: Caller, p: UpdateSecretDescPayload) -> Reply:
    await svc.secrets.update_description(caller.appid, p.secretName, p.description or "")
    return Reply(message="Update secret description success.")


async def put_secret_value(svc: Services, caller: Caller, p: PutSecretValuePayload) -> Reply:
    await svc.secrets.put_value(caller.appid, p.secretName, p.secretData)
    return Reply(message=f"The {p.secretName} new version put success.")


async def list_secret_version_ids(svc: Services, caller: Caller, p: SecretNamePayload) -> Reply:
    record, versions = await svc.secrets.list_versions(caller.appid, p.secretName)
    result = {
        "secretName": record.name,
        "totalCount": len(versions),
        "versionIds": [{"versionId": v.version, "createTime": v.created_ms} for v in versions],
    }
    return Reply(result, message="List secret versionIds success.")


async def list_secrets(svc: Services, caller: Caller, p: ListSecretsPayload) -> Reply:
    records = await svc.secrets.list_secrets(caller.appid, p.secretName or None)
    result = {"totalCount": len(records), "secretList": [secret_summary(r) for r in records]}
    return Reply(result, message="List secrets success.")


async def describe_secret(svc: Services, caller: Caller, p: SecretNamePayload) -> Reply:
    record = await svc.secrets.describe(caller.appid, p.secretName)
    return Reply(secret_description(record), message="Describe secrets success.")


async def delete_secret(svc: Services, caller: Caller, p: DeleteSecretPayload) -> Reply:
    force = force_delete_flag(p.forceDelete, p.force_delete)
    await svc.secrets.delete(caller.appid, p.secretName, recovery_days=p.recoveryPeriod, force=force)
    if force:
        return Reply(message=f"The {p.secretName} delete success.")
    days = p.recoveryPeriod if p.recoveryPeriod is not None else DEFAULT_RECOVERY_DAYS
    return Reply(message=f"The {p.secretName} will be deleted after {days} days. Schedule deletion success.")


async def get_secret_value(svc: Services, caller: Caller, p: GetSecretValuePayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        sealed = await svc.release.get_secret_value(caller.appid, p.secretName, p.versionId, bundle)
        released = {
            "secretName": sealed.name,
            "ciphertextForRecipient": base64.b64encode(sealed.sealed).decode("ascii"),
            "versionId": sealed.version,
            "createTime": sealed.created_ms,
        }
        return Reply(released)
    value = await svc.secrets.get_value(caller.appid, p.secretName, p.versionId)
    result = {
        "secretName": value.name,
        "secretData": value.data,
        "versionId": value.version,
        "createTime": value.created_ms,
    }
    return Reply(result)


async def restore_secret(svc: Services, caller: Caller, p: SecretNamePayload) -> Reply:
    await svc.secrets.restore(caller.appid, p.secretName)
    return Reply(message=f"The {p.secretName} restore success.")
