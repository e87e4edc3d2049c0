"""SDK methods, keys and their metadata: CreateKey, ListKey, Enable/Disable/DeleteKey, GetPublicKey,
DescribeKey, aliases, tags, scheduled deletion."""

from __future__ import annotations

from typing import Any

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import AliasPage, KeyDescription, KeyInfo, KeyPage
from pyehsm.client.operation import operation


def _plain_dicts(keys: list[KeyInfo]) -> list[dict[str, Any]]:
    return [dict(k.raw) for k in keys]


class KeyMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    # -- keys -------------------------------------------------------------------------------------
    @operation
    def create_key(
        self,
        keyspec: str,
        origin: str = "EH_INTERNAL_KEY",
        keyusage: str | None = None,
        release_policy: str | dict[str, Any] | None = None,
    ) -> Exchange[str]:
        """CreateKey: a new CMK; returns its keyid. ``release_policy``: docs/key-release.md.

        >>> keyid = c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
        """
        return self._exchange(ops.create_key(keyspec, origin, keyusage, release_policy))

    @operation
    def list_key(self) -> Exchange[list[KeyInfo]]:
        """ListKey: the calling app's keys, typed.

        >>> [k.keyid for k in c.list_key() if k.enabled]
        """
        return self._exchange(ops.list_key())

    @operation
    def list_keys(self) -> Exchange[list[dict[str, Any]]]:
        """ListKey as plain dicts (wire field names).

        >>> {k["keyid"] for k in c.list_keys()}
        """
        return self._exchange(ops.list_key()).map(_plain_dicts)

    @operation
    def list_key_page(self, limit: int, marker: str | None = None) -> Exchange[KeyPage]:
        """ListKey, one page of at most ``limit`` keys after ``marker`` (pyehsm).

        >>> page = c.list_key_page(100)
        >>> while page.next_marker: page = c.list_key_page(100, page.next_marker)
        """
        return self._exchange(ops.list_key_page(limit, marker))

    # -- key metadata (pyehsm, docs/key-metadata.md; every keyid argument also takes an alias) ------------
    @operation
    def describe_key(self, keyid: str) -> Exchange[KeyDescription]:
        """DescribeKey: every piece of a key's metadata, never its material.

        >>> c.describe_key("alias/payments").state
        'Enabled'
        """
        return self._exchange(ops.describe_key(keyid))

    @operation
    def update_key_description(self, keyid: str, description: str) -> Exchange[None]:
        """UpdateKeyDescription ("" clears it)."""
        return self._exchange(ops.update_key_description(keyid, description))

    @operation
    def create_alias(self, alias: str, keyid: str) -> Exchange[None]:
        """CreateAlias: name a key ``alias/<name>`` (unique in the app).

        >>> c.create_alias("alias/payments", keyid)
        """
        return self._exchange(ops.create_alias(alias, keyid))

    @operation
    def update_alias(self, alias: str, keyid: str) -> Exchange[None]:
        """UpdateAlias: point an existing alias at another key."""
        return self._exchange(ops.update_alias(alias, keyid))

    @operation
    def delete_alias(self, alias: str) -> Exchange[None]:
        """DeleteAlias (the key stays)."""
        return self._exchange(ops.delete_alias(alias))

    @operation
    def list_aliases(
        self, keyid: str | None = None, limit: int | None = None, marker: str | None = None
    ) -> Exchange[AliasPage]:
        """ListAliases: the app's aliases (of one key, or all), by name, paged with ``limit``/``marker``."""
        return self._exchange(ops.list_aliases(keyid, limit, marker))

    @operation
    def tag_key(self, keyid: str, tags: dict[str, str]) -> Exchange[None]:
        """TagKey: add or overwrite tags (at most 50 per key).

        >>> c.tag_key(keyid, {"env": "prod"})
        """
        return self._exchange(ops.tag_key(keyid, tags))

    @operation
    def untag_key(self, keyid: str, tag_keys: list[str]) -> Exchange[None]:
        """UntagKey: remove tags by key (absent ones are ignored)."""
        return self._exchange(ops.untag_key(keyid, tag_keys))

    @operation
    def list_key_tags(self, keyid: str) -> Exchange[dict[str, str]]:
        """ListKeyTags: the key's tags."""
        return self._exchange(ops.list_key_tags(keyid))

    @operation
    def schedule_key_deletion(self, keyid: str, pending_window_days: int | None = None) -> Exchange[int]:
        """ScheduleKeyDeletion: the key refuses every operation and is deleted after 7..30 days (default 30);
        returns the deletion date (ms since the epoch)."""
        return self._exchange(ops.schedule_key_deletion(keyid, pending_window_days))

    @operation
    def cancel_key_deletion(self, keyid: str) -> Exchange[str]:
        """CancelKeyDeletion: the key comes back Disabled (enable it to use it); returns its state."""
        return self._exchange(ops.cancel_key_deletion(keyid))

    @operation
    def enable_key(self, keyid: str) -> Exchange[None]:
        """EnableKey (idempotent).

        >>> c.enable_key(keyid)
        """
        return self._exchange(ops.enable_key(keyid))

    @operation
    def disable_key(self, keyid: str) -> Exchange[None]:
        """DisableKey (idempotent): the key refuses every operation until enabled.

        >>> c.disable_key(keyid)
        """
        return self._exchange(ops.disable_key(keyid))

    @operation
    def delete_key(self, keyid: str) -> Exchange[None]:
        """DeleteKey: deletes the key and its material for good.

        >>> c.delete_key(keyid)
        """
        return self._exchange(ops.delete_key(keyid))

    @operation
    def delete_all_key(self) -> Exchange[None]:
        """DeleteAllKey: deletes every key of the calling app.

        >>> c.delete_all_key()
        """
        return self._exchange(ops.delete_all_key())

    @operation
    def delete_all_keys(self) -> Exchange[None]:
        """Same as :meth:`delete_all_key`.

        >>> c.delete_all_keys()
        """
        return self._exchange(ops.delete_all_key())

    @operation
    def get_public_key(self, keyid: str) -> Exchange[str]:
        """GetPublicKey: the PEM SubjectPublicKeyInfo of an asymmetric key.

        >>> pem = c.get_public_key(keyid)
        """
        return self._exchange(ops.get_public_key(keyid))
