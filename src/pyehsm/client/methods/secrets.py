"""SDK methods, the secrets manager."""

from __future__ import annotations

from typing import Any

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import SecretDescription, SecretList, SecretValue, SecretVersions
from pyehsm.client.operation import operation


class SecretMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    # -- secrets ----------------------------------------------------------------------------------
    @operation
    def create_secret(
        self,
        secret_name: str,
        secret_data: str,
        encryption_key_id: str | None = None,
        description: str | None = None,
        rotation_interval: str | None = None,
        release_policy: str | dict[str, Any] | None = None,
    ) -> Exchange[None]:
        """CreateSecret: a named secret with its first version. ``release_policy``: docs/key-release.md.

        >>> c.create_secret("db-password", "s3cr3t", description="prod db", rotation_interval="30d")
        """
        return self._exchange(
            ops.create_secret(
                secret_name, secret_data, encryption_key_id, description, rotation_interval, release_policy
            )
        )

    @operation
    def update_secret_desc(self, secret_name: str, description: str | None = None) -> Exchange[None]:
        """UpdateSecretDesc.

        >>> c.update_secret_desc("db-password", "rotated monthly")
        """
        return self._exchange(ops.update_secret_desc(secret_name, description))

    @operation
    def put_secret_value(self, secret_name: str, secret_data: str) -> Exchange[None]:
        """PutSecretValue: stores a new version.

        >>> c.put_secret_value("db-password", "n3w")
        """
        return self._exchange(ops.put_secret_value(secret_name, secret_data))

    @operation
    def list_secret_version_ids(self, secret_name: str) -> Exchange[SecretVersions]:
        """ListSecretVersionIds.

        >>> sorted(v.version_id for v in c.list_secret_version_ids("db-password").versions)
        [1, 2]
        """
        return self._exchange(ops.list_secret_version_ids(secret_name))

    @operation
    def list_secrets(self, secret_name: str | None = None) -> Exchange[SecretList]:
        """ListSecrets (optionally only ``secret_name``).

        >>> [s.secret_name for s in c.list_secrets().secrets]
        """
        return self._exchange(ops.list_secrets(secret_name))

    @operation
    def describe_secret(self, secret_name: str) -> Exchange[SecretDescription]:
        """DescribeSecret: metadata, never the value.

        >>> c.describe_secret("db-password").rotation_interval
        '30d'
        """
        return self._exchange(ops.describe_secret(secret_name))

    @operation
    def delete_secret(
        self, secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None
    ) -> Exchange[None]:
        """DeleteSecret: scheduled after ``recovery_period`` days (restorable until then) or at once.

        >>> c.delete_secret("db-password", recovery_period=7)
        """
        return self._exchange(ops.delete_secret(secret_name, recovery_period, force_delete))

    @operation
    def get_secret_value(self, secret_name: str, version_id: int | None = None) -> Exchange[SecretValue]:
        """GetSecretValue (latest version unless ``version_id``).

        >>> c.get_secret_value("db-password").secret_data
        'n3w'
        """
        return self._exchange(ops.get_secret_value(secret_name, version_id))

    @operation
    def restore_secret(self, secret_name: str) -> Exchange[None]:
        """RestoreSecret: cancels a scheduled deletion.

        >>> c.restore_secret("db-password")
        """
        return self._exchange(ops.restore_secret(secret_name))
