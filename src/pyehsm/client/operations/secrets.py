"""Request builders of the secrets manager."""

from __future__ import annotations

from typing import Any, TypeVar

from pyehsm.client.models import (
    SecretDescription,
    SecretList,
    SecretValue,
    SecretVersions,
)
from pyehsm.client.operations.call import Call, _none, _payload, _policy_text

T = TypeVar("T")


# -- secrets ----------------------------------------------------------------------------------------
def create_secret(
    secret_name: str,
    secret_data: str,
    encryption_key_id: str | None = None,
    description: str | None = None,
    rotation_interval: str | None = None,
    release_policy: str | dict[str, Any] | None = None,
) -> Call[None]:
    payload = _payload(
        secretName=secret_name,
        secretData=secret_data,
        encryptionKeyId=encryption_key_id,
        description=description,
        rotationInterval=rotation_interval,
        releasePolicy=_policy_text(release_policy),
    )
    return Call("CreateSecret", payload, _none)


def update_secret_desc(secret_name: str, description: str | None = None) -> Call[None]:
    return Call("UpdateSecretDesc", _payload(secretName=secret_name, description=description), _none)


def put_secret_value(secret_name: str, secret_data: str) -> Call[None]:
    return Call("PutSecretValue", {"secretName": secret_name, "secretData": secret_data}, _none)


def list_secret_version_ids(secret_name: str) -> Call[SecretVersions]:
    return Call("ListSecretVersionIds", {"secretName": secret_name}, SecretVersions.from_result)


def list_secrets(secret_name: str | None = None) -> Call[SecretList]:
    return Call("ListSecrets", _payload(secretName=secret_name), SecretList.from_result)


def describe_secret(secret_name: str) -> Call[SecretDescription]:
    return Call("DescribeSecret", {"secretName": secret_name}, SecretDescription.from_result)


def delete_secret(secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None) -> Call[None]:
    force = None if force_delete is None else ("true" if force_delete else "false")
    payload = _payload(secretName=secret_name, recoveryPeriod=recovery_period, forceDelete=force)
    return Call("DeleteSecret", payload, _none)


def get_secret_value(secret_name: str, version_id: int | None = None) -> Call[SecretValue]:
    return Call("GetSecretValue", _payload(secretName=secret_name, versionId=version_id), SecretValue.from_result)


def restore_secret(secret_name: str) -> Call[None]:
    return Call("RestoreSecret", {"secretName": secret_name}, _none)
