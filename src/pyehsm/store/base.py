"""The Store protocol: every persistent operation pyehsm performs. Implementations: sqlite, postgres.

Every method that touches tenant data takes the appid and filters by it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pyehsm.store.import_protocol import ImportStore
from pyehsm.store.records import (
    AliasRecord,
    AppRecord,
    KeyRecord,
    KeyState,
    KeyVersionInfo,
    KeyVersionRecord,
    KeyVersionState,
    QuotePolicyRecord,
    SealKeyVersion,
)
from pyehsm.store.release_protocol import ReleaseStore
from pyehsm.store.secret_protocol import SecretStore

WRAPPED_KINDS: tuple[str, ...] = ("cmk", "apikey", "secrets_key", "import_key")
"""Every column holding a value wrapped by the domain key (DK), by the name the rotation job uses.

kind           column                              key (resume cursor)   owner (what the AAD binds)
"cmk"          key_versions.wrapped_material       (keyid, version)      (appid, keyid, str(version), keyspec)
               (rows whose material is NULL, external keys awaiting import, are skipped; appid and
               keyspec come from the keys row: key_versions JOIN keys USING (keyid))
"apikey"       apps.wrapped_apikey                 (appid,)              (appid,)
"secrets_key"  secret_keys.wrapped_material        (appid,)              (appid, keyid)
"import_key"   import_tokens.wrapped_private_key   (keyid,)              (appid, keyid, token_id, wrapping_keyspec)
DK-wrapped values kept in the meta table (the BYOK token key) are re-wrapped with replace_meta.
A new DK-wrapped column adds a kind here, in both stores (_WRAPPED_SQL in store/sqlite/meta.py and
store/postgres/meta.py) and in keyring/domain_key_rotation.py (its AAD).
"""


@dataclass(frozen=True, slots=True)
class WrappedValue:
    """One DK-wrapped value as the domain-key rotation job sees it (see WRAPPED_KINDS)."""

    kind: str
    key: tuple[str | int, ...]
    owner: tuple[str, ...]
    wrapped: bytes

    def __repr__(self) -> str:
        return f"<WrappedValue {self.kind} {self.key}>"


def _row(key: int, owner: tuple[int, ...], wrapped: int) -> Callable[[str, tuple[Any, ...]], WrappedValue]:
    def build(kind: str, r: tuple[Any, ...]) -> WrappedValue:
        return WrappedValue(kind, tuple(r[:key]), tuple(str(r[i]) for i in owner), bytes(r[wrapped]))

    return build


WRAPPED_ROWS: dict[str, Callable[[str, tuple[Any, ...]], WrappedValue]] = {
    # each store's page query returns, in this order: the key columns, the owner-only columns, the value
    "cmk": _row(2, (2, 0, 1, 3), 4),  # keyid, version, appid, keyspec, wrapped
    "apikey": _row(1, (0,), 1),  # appid, wrapped
    "secrets_key": _row(1, (0, 1), 2),  # appid, keyid, wrapped
    "import_key": _row(1, (1, 0, 2, 3), 4),  # keyid, appid, token_id, wrapping_keyspec, wrapped
}
"""Row -> WrappedValue for each kind, shared by the SQLite and PostgreSQL stores."""


class Store(SecretStore, ImportStore, ReleaseStore, Protocol):
    """Every persistent operation; the secrets manager's, BYOK's and key release's are declared in their own
    protocol modules (secret_protocol.py, import_protocol.py, release_protocol.py)."""

    kind: str

    async def open(self) -> None:
        """Connect and apply pending migrations (under a lock)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # -- meta (wrapped domain keys, settings) ------------------------------------------------------
    async def get_meta(self, name: str) -> bytes | None: ...

    async def put_meta(self, name: str, value: bytes) -> None: ...

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless ``name`` exists; return what is stored (race-free)."""
        ...

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        """Compare-and-swap several meta rows in one transaction (root-key and domain-key rotation).

        If every name in ``expected`` currently holds exactly that value (None: the row is absent),
        upsert every row of ``values``, delete the rows named in ``delete`` and return True; otherwise
        change nothing and return False. Must be serialised against concurrent writers (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE on the expected rows plus a transaction-scoped
        advisory lock so that two callers expecting the same *absent* row cannot both succeed).
        """
        ...

    # -- domain-key rotation (keyring/domain_key_rotation.py; the kinds and their columns: WRAPPED_KINDS) --------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        """Up to ``limit`` values of ``kind`` wrapped under a domain key older than ``below``.

        ``below`` is Keyring.dk_id_prefix(target): the first 5 bytes of a wrapped value (format byte,
        then the DK id as a big-endian u32) compared as bytes, so the SQL filter is
        ``substr(col, 1, 5) < below`` (PostgreSQL: ``substring(col from 1 for 5) < below`` on bytea).
        Rows come in ascending ``key`` order, starting strictly after ``after`` (None: from the
        first row), so a caller pages with the last key it got; a crashed job restarts from None.
        Tenant-wide by design (a maintenance job); never exposed to an app.
        """
        ...

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        """Compare-and-swap each (value, new): ``UPDATE <table> SET <column> = new WHERE <key columns> =
        value.key AND <column> = value.wrapped``, all in one transaction. A row changed or deleted
        meanwhile (another node's job, a key deletion) is skipped. Returns how many rows changed."""
        ...

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        """How many values of ``kind`` each 5-byte header prefix (see list_wrapped) has."""
        ...

    # -- apps --------------------------------------------------------------------------------------
    async def insert_app(self, app: AppRecord) -> None: ...

    async def get_app(self, appid: str) -> AppRecord | None: ...

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        """Turn the app's signed-action requirement on or off; False when the app does not exist."""
        ...

    # -- keys --------------------------------------------------------------------------------------
    async def insert_key(self, key: KeyRecord, version: KeyVersionRecord) -> None: ...

    async def insert_keys(self, keys: list[tuple[KeyRecord, KeyVersionRecord]]) -> None: ...  # one transaction

    async def get_key(self, appid: str, keyid: str) -> KeyRecord | None: ...

    async def get_key_version(self, appid: str, keyid: str, version: int) -> KeyVersionRecord | None: ...

    async def get_key_and_primary(self, appid: str, keyid: str) -> tuple[KeyRecord, bytes | None] | None:
        """``get_key`` and its primary version's wrapped material (None: none stored) in one read: the request
        path's cache miss (KeyService.resolve_loaded). The key row is cached as ``get_key`` caches it."""
        ...

    async def list_keys(
        self, appid: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[KeyRecord]:
        """By (created_ms, keyid), strictly after ``after``, at most ``limit`` (None: all)."""
        ...

    # -- key versions (rotation; every version's material stays until its key is deleted) ------------
    async def add_key_version(
        self, appid: str, keyid: str, seal: SealKeyVersion, *, make_primary: bool, due_ms: int | None = None
    ) -> KeyVersionRecord | None:
        """Append the next version of the app's key: holding the key's row lock, call ``seal(latest + 1)``
        (it wraps the new material, whose AAD names the version; quick, no I/O) and store the record it
        returns, in one transaction; with ``make_primary`` the key's primary_version moves to it in the same
        transaction. With ``due_ms`` (the automatic-rotation job) only when the key's next_rotation_ms is set
        and <= ``due_ms`` and the key is not pending deletion; next_rotation_ms then moves to the version's
        created_ms plus the rotation period: several nodes that all see a due key add exactly one version.
        Returns the new version; None when the key is not the app's (or, with ``due_ms``, not due). A key-row
        change: PostgreSQL notifies 'k:<keyid>' and the key-row cache evicts it."""

    async def list_key_versions(self, appid: str, keyid: str) -> list[KeyVersionInfo]:
        """Every version of the app's key, oldest first, without material; [] for an unknown key."""

    async def set_primary_version(self, appid: str, keyid: str, version: int) -> bool:
        """Make ``version`` the key's primary; False unless it exists, is enabled and has material."""

    async def set_key_version_state(self, appid: str, keyid: str, version: int, state: KeyVersionState) -> bool:
        """Enable or disable one version (its material is kept); False when the version does not exist
        or when asked to disable the primary version. Evicts the key like a key-state change."""

    async def set_key_rotation(
        self, appid: str, keyid: str, period_days: int | None, next_rotation_ms: int | None
    ) -> bool:
        """Set the key's automatic-rotation period and next rotation time (None, None: off)."""

    async def set_min_decryption_version(self, appid: str, keyid: str, version: int) -> bool:
        """Set the key's minimum decryption version (ciphertexts naming an older version are refused; every
        version's material is kept, so lowering it restores them); False when no such key for this app.
        A key-row change: PostgreSQL notifies 'k:<keyid>' and the key-row cache evicts it."""

    async def list_due_rotations(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """Up to ``limit`` keys (all apps) whose next_rotation_ms <= ``now_ms`` and that are not pending
        deletion, soonest first: the rotation job's work list (tenant-wide by design; never shown to an app)."""

    async def set_key_state(self, appid: str, keyid: str, state: KeyState) -> bool:
        """False when no such key for this app."""
        ...

    async def set_key_description(self, appid: str, keyid: str, description: str) -> bool: ...

    async def schedule_key_deletion(self, appid: str, keyid: str, deletion_ms: int) -> bool:
        """Key -> pending_deletion at ``deletion_ms``; False when unknown or already pending."""
        ...

    async def cancel_key_deletion(self, appid: str, keyid: str) -> bool:
        """pending_deletion -> disabled (pending_import without material); False when not pending."""
        ...

    async def purge_due_keys(self, now_ms: int, limit: int) -> list[tuple[str, str]]:
        """Delete due pending_deletion keys (all apps) in ONE conditional statement; return (appid, keyid) of
        each: several nodes at once delete each exactly once. Tenant-wide by design (the deletion job)."""
        ...

    async def delete_key(self, appid: str, keyid: str) -> bool: ...

    async def delete_all_keys(self, appid: str) -> list[str]:
        """Delete every key of the app; return their keyids."""
        ...

    # -- aliases (an app's names for its keys: unique per app; deleting a key deletes its aliases) ----------
    async def create_alias(self, appid: str, alias: str, keyid: str, now_ms: int) -> bool: ...

    async def update_alias(self, appid: str, alias: str, keyid: str) -> bool: ...

    async def delete_alias(self, appid: str, alias: str) -> bool: ...

    async def get_alias(self, appid: str, alias: str) -> str | None: ...

    async def list_aliases(
        self, appid: str, keyid: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[AliasRecord]: ...  # by name (bytewise), strictly after ``after``, at most ``limit``

    # -- tags (a key's tags: unique keys per key; deleting a key deletes its tags) ----------------------------
    async def tag_key(self, appid: str, keyid: str, tags: dict[str, str], max_tags: int) -> int | None:
        """Upsert ``tags`` in one transaction; the key's tag count after (over ``max_tags``: nothing written);
        None: no such key."""
        ...

    async def untag_key(self, appid: str, keyid: str, tag_keys: list[str]) -> bool: ...

    async def list_key_tags(self, appid: str, keyid: str) -> dict[str, str]: ...

    # -- key policies (stored documents by name, never evaluated; deleting a key deletes its policies) ------
    async def put_key_policy(self, appid: str, keyid: str, name: str, policy: str, now_ms: int) -> bool:
        """Insert or replace the app's key's policy ``name``; False: no such key (of this app)."""
        ...

    async def get_key_policy(self, appid: str, keyid: str, name: str) -> str | None:
        """The stored policy ``name`` of the app's key; None: none was put (or no such key)."""
        ...

    # -- quote policies (UploadQuotePolicy / GetQuotePolicy) -------------------------------------------
    async def insert_quote_policy(self, policy: QuotePolicyRecord) -> None: ...

    async def get_quote_policy(self, appid: str, policy_id: str) -> QuotePolicyRecord | None:
        """The app's policy; None when unknown or owned by another app."""
        ...


@runtime_checkable
class BlockingMetaReader(Protocol):
    """A store that can read one meta row without awaiting (SQLite; PostgreSQL may add it with a short
    synchronous connection). The keyring uses it, rarely, to load a domain key another node created
    when a wrapped value names it (Keyring dk_loader); without it nodes learn new domain keys from the
    periodic refresh (keyring/domain_key_rotation.py) and the rotation's propagation delay covers the gap."""

    def read_meta_blocking(self, name: str) -> bytes | None: ...


class ReplayGuard(Protocol):
    async def remember(self, appid: str, sign: str, now_ms: int, timestamp_ms: int | None = None) -> bool:
        """Record (appid, sign); False when it was already seen within the retention window, or when
        the request's ``timestamp_ms`` is older than anything the guard can vouch for."""

    async def purge(self, now_ms: int) -> int: ...

    async def size(self, now_ms: int) -> int:
        """How many entries the guard holds that are live at ``now_ms`` (not yet expired): the /metrics
        gauge, exact (every entry counted)."""

    @property
    def floor_ms(self) -> int:
        """Requests timestamped before this are refused (the guard cannot know whether they were seen);
        0 when it knows its whole past."""

    @property
    def refused(self) -> dict[str, int]:
        """Refusals so far, by reason: ``seen`` (a replay), ``before_floor`` (timestamped before the floor)."""

    @property
    def overflowed(self) -> int: ...  # entries the mapped table sent to its SQLite overflow; 0 for other guards

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One persistent table as export/import sees it: its columns and the tables its foreign keys name."""

    name: str
    columns: tuple[str, ...]
    parents: frozenset[str]


@runtime_checkable
class PortableStore(Protocol):
    """Raw, still-wrapped row access for `pyehsm export` / `pyehsm import` (both stores implement it)."""

    async def schema_version(self) -> int: ...

    async def tables(self) -> list[TableInfo]:
        """Every persistent data table (not schema_version, not replay caches)."""
        ...

    async def count_rows(self, table: TableInfo) -> int: ...

    def dump(
        self, tables: list[TableInfo], batch: int = 1000
    ) -> AsyncIterator[tuple[TableInfo, list[tuple[Any, ...]]]]:
        """Batches of rows of ``tables``, in that order, all read from one consistent snapshot."""
        ...

    async def load(self, batches: AsyncIterable[tuple[TableInfo, list[tuple[Any, ...]]]]) -> None:
        """Insert every batch (rows in ``table.columns`` order) in one transaction: all or nothing."""
        ...
