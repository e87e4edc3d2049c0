"""Key metadata beyond eHSM: DescribeKey, descriptions, aliases, tags, scheduled deletion, paged listings.

Every Action here names its key through ``KeyService.get`` (a keyid or one of the app's aliases), so the
tenancy and alias rules live in one place. Limits follow AWS KMS (docs/key-metadata.md):

- alias: ``alias/`` then letters, digits, ``/``, ``_``, ``-``; at most 256 characters; ``alias/aws/...`` is
  reserved; unique per app; a key may have several.
- tags: at most 50 per key; a tag key 1..128 characters, a value 0..256.
- key policies: a JSON object of at most 32768 characters, by name (AWS has one, ``default``); stored and
  returned, never evaluated (access is per app); deleted with the key.
- scheduled deletion: a pending window of 7..30 days (30 by default); the key is refused for every
  operation meanwhile, CancelKeyDeletion gives it back disabled, and ``purge_once`` (the deletion job, on
  every node) deletes it once the window has passed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from pyehsm.clock import DAY_MS, Clock
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.errors import (
    AliasExists,
    AliasInvalid,
    AliasNotFound,
    AliasTargetMismatch,
    InvalidMarker,
    KeyNotFound,
    KeyNotPendingDeletion,
    KeyPendingDeletion,
    KeyPolicyMalformed,
    OutOfRange,
    TooManyTags,
)
from pyehsm.keyring.keyring import Keyring
from pyehsm.services.keys import ALIAS_PREFIX, KeyService
from pyehsm.store.base import Store
from pyehsm.store.records import AliasRecord, KeyRecord, KeyState, KeyVersionInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ALIAS_CHARS = 256
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
MAX_KEY_DESCRIPTION_CHARS = 8192  # AWS KMS's limit for a key description
MIN_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS, DEFAULT_PENDING_WINDOW_DAYS = 7, 30, 30
MAX_POLICY_CHARS = 32768  # AWS KMS's limit for a key policy document
DEFAULT_POLICY_NAME = "default"
MAX_PAGE = 1000
PURGE_BATCH = 100
_ALIAS = re.compile(r"\Aalias/[A-Za-z0-9/_-]+\Z")
_RESERVED = "alias/aws/"


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """Everything DescribeKey tells about a key (no material)."""

    record: KeyRecord
    versions: list[KeyVersionInfo]
    aliases: list[str]
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: its items and, when more follow, the marker of the next page."""

    items: list[T]
    next_marker: str | None


def check_alias_name(alias: str) -> None:
    if len(alias) > MAX_ALIAS_CHARS or not _ALIAS.match(alias):
        raise AliasInvalid(alias)
    if alias.startswith(_RESERVED) or alias == _RESERVED.rstrip("/"):
        raise AliasInvalid(alias, reserved=True)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def check_policy(policy: str) -> None:
    """A key policy is a JSON object of at most MAX_POLICY_CHARS characters (its statements are not read)."""
    if len(policy) > MAX_POLICY_CHARS:
        raise KeyPolicyMalformed("too long", MAX_POLICY_CHARS)
    try:
        document = json.loads(policy, parse_constant=_not_json)  # NaN, Infinity: Python's, not JSON
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise KeyPolicyMalformed("not JSON", MAX_POLICY_CHARS) from None
    if not isinstance(document, dict):
        raise KeyPolicyMalformed("not a JSON object", MAX_POLICY_CHARS)


def _kind(record: KeyRecord) -> tuple[bool, str]:
    """What UpdateAlias keeps: symmetric or not, and the keyusage (AES vs HMAC vs RSA/EC/SM2 keys)."""
    return keyspec(record.keyspec).symmetric, record.keyusage


def _key_marker(record: KeyRecord) -> str:
    return f"{record.created_ms}.{record.keyid}"


# a marker's keyid: the canonical text of the UUID every key is created with (KeyService.create)
_MARKER_KEYID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _parse_key_marker(marker: str) -> tuple[int, str]:
    """A marker this service issued (``_key_marker``): creation time, a dot, the keyid. Anything else is
    InvalidMarker, never a listing from some other position."""
    created, sep, keyid = marker.partition(".")
    # ASCII digits only: str.isdigit() also takes superscripts and other scripts' digits, which int() refuses
    if not sep or not (created.isascii() and created.isdigit()) or len(created) > 19:
        raise InvalidMarker("marker")
    if not _MARKER_KEYID.fullmatch(keyid):
        raise InvalidMarker("marker")
    return int(created), keyid


class KeyMetadataService:
    def __init__(self, store: Store, keys: KeyService, keyring: Keyring, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._keyring = keyring
        self._clock = clock

    def __repr__(self) -> str:
        return "<KeyMetadataService>"

    # -- ListKey (paged) -----------------------------------------------------------------------------
    async def list_keys(
        self, appid: str, limit: int | None, marker: str | None, *, aliases: bool = True
    ) -> Page[KeyRecord]:
        """The app's keys in creation order, each with its first alias in ``alias`` (unless not ``aliases``);
        a page of ``limit`` keys after ``marker`` (None, None: every key, as ListKey always answered). The
        store reads one page (keyset paging on its (appid, created_ms, keyid) index), whatever the key count."""
        after = _parse_key_marker(marker) if marker is not None else None
        records = await self._store.list_keys(appid, None if limit is None else limit + 1, after)
        records = [await self._keys.current(r) for r in records]  # imported material past ValidTo: expired now
        next_marker = None
        if limit is not None and len(records) > limit:
            records = records[:limit]
            next_marker = _key_marker(records[-1])
        if not aliases:
            return Page(records, next_marker)
        first: dict[str, str] = {}
        for alias in await self._store.list_aliases(appid):
            first.setdefault(alias.keyid, alias.alias)  # by name: the first alias of each key
        return Page([replace(r, alias=first[r.keyid]) if r.keyid in first else r for r in records], next_marker)

    # -- DescribeKey / UpdateKeyDescription -----------------------------------------------------------
    async def describe(self, appid: str, keyid: str) -> KeyDescription:
        record = await self._keys.get(appid, keyid)
        versions = await self._store.list_key_versions(appid, record.keyid)
        aliases = [a.alias for a in await self._store.list_aliases(appid, record.keyid)]
        tags = await self._store.list_key_tags(appid, record.keyid)
        return KeyDescription(record, versions, aliases, tags)

    async def update_description(self, appid: str, keyid: str, description: str) -> None:
        record = await self._keys.get(appid, keyid)
        if not await self._store.set_key_description(appid, record.keyid, description):
            raise KeyNotFound(keyid)

    # -- aliases -------------------------------------------------------------------------------------
    async def create_alias(self, appid: str, alias: str, keyid: str) -> None:
        check_alias_name(alias)
        record = await self._keys.get(appid, keyid)
        if not await self._store.create_alias(appid, alias, record.keyid, self._clock.now_ms()):
            if await self._store.get_alias(appid, alias) is not None:
                raise AliasExists(alias)
            raise KeyNotFound(keyid)  # deleted meanwhile

    async def update_alias(self, appid: str, alias: str, keyid: str) -> None:
        check_alias_name(alias)
        record = await self._keys.get(appid, keyid)
        current_keyid = await self._store.get_alias(appid, alias)
        if current_keyid is None:
            raise AliasNotFound(alias)
        current = await self._store.get_key(appid, current_keyid)
        if current is not None and _kind(current) != _kind(record):
            raise AliasTargetMismatch(alias)
        if not await self._store.update_alias(appid, alias, record.keyid):
            if await self._store.get_alias(appid, alias) is None:
                raise AliasNotFound(alias)
            raise KeyNotFound(keyid)  # deleted meanwhile

    async def delete_alias(self, appid: str, alias: str) -> None:
        check_alias_name(alias)
        if not await self._store.delete_alias(appid, alias):
            raise AliasNotFound(alias)

    async def list_aliases(
        self, appid: str, keyid: str | None, limit: int | None, marker: str | None
    ) -> Page[AliasRecord]:
        target = (await self._keys.get(appid, keyid)).keyid if keyid is not None else None
        if marker is not None and (len(marker) > MAX_ALIAS_CHARS or not marker.startswith(ALIAS_PREFIX)):
            raise InvalidMarker("marker")
        aliases = await self._store.list_aliases(appid, target, None if limit is None else limit + 1, marker)
        if limit is not None and len(aliases) > limit:
            return Page(aliases[:limit], aliases[limit - 1].alias)
        return Page(aliases, None)

    # -- tags ----------------------------------------------------------------------------------------
    async def tag(self, appid: str, keyid: str, tags: dict[str, str]) -> None:
        record = await self._keys.get(appid, keyid)
        count = await self._store.tag_key(appid, record.keyid, tags, MAX_TAGS)
        if count is None:
            raise KeyNotFound(keyid)
        if count > MAX_TAGS:
            raise TooManyTags(MAX_TAGS)

    async def untag(self, appid: str, keyid: str, tag_keys: list[str]) -> None:
        record = await self._keys.get(appid, keyid)
        if not await self._store.untag_key(appid, record.keyid, tag_keys):
            raise KeyNotFound(keyid)

    async def list_tags(self, appid: str, keyid: str) -> dict[str, str]:
        record = await self._keys.get(appid, keyid)
        return await self._store.list_key_tags(appid, record.keyid)

    # -- key policies (stored and returned, never evaluated) ------------------------------------------
    async def put_policy(self, appid: str, keyid: str, policy: str, name: str = DEFAULT_POLICY_NAME) -> None:
        check_policy(policy)
        record = await self._keys.get(appid, keyid)
        if not await self._store.put_key_policy(appid, record.keyid, name, policy, self._clock.now_ms()):
            raise KeyNotFound(keyid)  # deleted meanwhile

    async def get_policy(self, appid: str, keyid: str, name: str = DEFAULT_POLICY_NAME) -> str | None:
        """The key's stored policy ``name``; None: none was put (the door answers its default document)."""
        record = await self._keys.get(appid, keyid)
        return await self._store.get_key_policy(appid, record.keyid, name)

    # -- scheduled deletion --------------------------------------------------------------------------
    async def schedule_deletion(self, appid: str, keyid: str, pending_window_days: int | None) -> int:
        """Put the key in PendingDeletion; returns its deletion time (ms)."""
        days = DEFAULT_PENDING_WINDOW_DAYS if pending_window_days is None else pending_window_days
        if not MIN_PENDING_WINDOW_DAYS <= days <= MAX_PENDING_WINDOW_DAYS:
            raise OutOfRange("pendingWindowInDays", MIN_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS)
        record = await self._keys.get(appid, keyid)
        if record.state is KeyState.PENDING_DELETION:
            raise KeyPendingDeletion(record.keyid)
        deletion_ms = self._clock.now_ms() + days * DAY_MS
        if not await self._store.schedule_key_deletion(appid, record.keyid, deletion_ms):
            again = await self._keys.get(appid, keyid)  # scheduled or deleted meanwhile
            raise KeyPendingDeletion(again.keyid)
        self._keyring.forget(record.keyid)
        return deletion_ms

    async def cancel_deletion(self, appid: str, keyid: str) -> KeyState:
        """Take the key out of PendingDeletion; returns its new state (Disabled, or PendingImport for an
        external key that never got its material)."""
        record = await self._keys.get(appid, keyid)
        if not await self._store.cancel_key_deletion(appid, record.keyid):
            raise KeyNotPendingDeletion(record.keyid)
        return (await self._keys.get(appid, record.keyid)).state

    async def purge_once(self) -> int:
        """One pass of the deletion job: delete every key whose pending window has passed. Returns how many.

        Safe on several nodes at once: the store deletes each due key in one conditional statement, so every
        key is deleted (and logged) by exactly one of them."""
        total = 0
        while True:
            deleted = await self._store.purge_due_keys(self._clock.now_ms(), PURGE_BATCH)
            for appid, keyid in deleted:
                self._keyring.forget(keyid)
                log.info("deleted keyid %s of app %s: its scheduled deletion date passed", keyid, appid)
            total += len(deleted)
            if len(deleted) < PURGE_BATCH:
                return total
