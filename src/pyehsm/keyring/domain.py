"""Domain-key bootstrap: create (first start) or unwrap (every start) the domain keys under the root key.

Meta rows (store.meta):
    root.kind     which provider kind wraps the domain keys ("file" | "passphrase" | "pkcs11")
    root.params   that provider's public parameters (Argon2 salt and costs, PKCS#11 mechanism)
    dk.<id>       domain key <id>, wrapped by the root key with AAD "pyehsm:dk:v1|<id>"
    dk.active     the id new values are wrapped under
    dk.rotation   domain-key rotation state (keyring/domain_key_rotation.py)

Nothing is written to an existing store before its domain keys unwrapped: a wrong root key changes nothing.
"""

from __future__ import annotations

import logging
import os

from pyehsm.errors import StartupError
from pyehsm.keyring.keyring import DK_BYTES, DomainKeyLoader, Keyring
from pyehsm.keyring.root import RootKeyProvider
from pyehsm.store.base import BlockingMetaReader, Store

log = logging.getLogger(__name__)

ACTIVE_DK = "dk.active"
ROOT_KIND = "root.kind"
ROOT_PARAMS = "root.params"


def dk_meta_name(dk_id: int) -> str:
    return f"dk.{dk_id}"


def dk_aad(dk_id: int) -> bytes:
    return f"pyehsm:dk:v1|{dk_id}".encode()


class RootKindMismatch(StartupError):
    def __init__(self, stored: str, root: RootKeyProvider) -> None:
        super().__init__(
            f"this store's domain keys are wrapped by a {stored!r} root key, but --root-key names a "
            f"{root.kind!r} provider ({root.describe()}): start with the {stored} provider the store uses "
            "(move to another provider with `pyehsm root-key rotate --to SPEC`)"
        )


async def configure_root(store: Store, root: RootKeyProvider) -> bool:
    """Check the provider kind against the store and configure ``root`` with the stored parameters.

    Returns True for a new store (no domain key yet); then the kind and the parameters the provider
    chose are recorded (insert-if-absent: two nodes starting at once agree on one salt).
    """
    stored_kind = await store.get_meta(ROOT_KIND)
    if stored_kind is not None and stored_kind.decode() != root.kind:
        raise RootKindMismatch(stored_kind.decode(), root)
    if await store.get_meta(ACTIVE_DK) is not None:
        params = await store.get_meta(ROOT_PARAMS)
        # Stores created before root.params existed were always "file" stores: their parameters are empty.
        root.configure(params if params is not None else b"")
        return False
    kind = (await store.insert_meta_if_absent(ROOT_KIND, root.kind.encode())).decode()
    if kind != root.kind:
        raise RootKindMismatch(kind, root)
    candidate = root.configure(None)
    stored = await store.insert_meta_if_absent(ROOT_PARAMS, candidate)
    if stored != candidate:  # another node initialised the store first: use its parameters
        root.configure(stored)
    return True


async def load_domain_keys(store: Store, root: RootKeyProvider) -> tuple[dict[int, bytes], int]:
    """Every domain key in the store (the active one, older ones, a prepared next one), unwrapped.

    Raises RootKeyMismatch (a StartupError) when ``root`` is not the store's root key.
    """
    active_raw = await store.get_meta(ACTIVE_DK)
    if active_raw is None:
        raise StartupError("the store has no domain key yet")
    active = int(active_raw.decode())
    keys: dict[int, bytes] = {}
    dk_id = 1
    while True:
        wrapped = await store.get_meta(dk_meta_name(dk_id))
        if wrapped is not None:
            keys[dk_id] = root.unwrap(wrapped, dk_aad(dk_id))
        elif dk_id > active:
            break
        dk_id += 1
    if active not in keys:
        raise StartupError(f"the store's active domain key dk.{active} is missing from its meta table")
    return keys, active


def blocking_dk_loader(store: Store, root: RootKeyProvider) -> DomainKeyLoader | None:
    """A loader for domain keys other nodes create after this one started (None if the store cannot
    read without awaiting: the periodic refresh then covers it)."""
    if not isinstance(store, BlockingMetaReader):
        return None
    reader = store

    def load(dk_id: int) -> bytes | None:
        wrapped = reader.read_meta_blocking(dk_meta_name(dk_id))
        if wrapped is None:
            return None
        try:
            key = root.unwrap(wrapped, dk_aad(dk_id))
        except StartupError:
            log.error(
                "domain key %d cannot be unwrapped with this node's root key "
                "(was the root key rotated? restart the node with the new --root-key)",
                dk_id,
            )
            return None
        log.info("loaded domain key %d created by another process", dk_id)
        return key

    return load


async def open_keyring(store: Store, root: RootKeyProvider, cache_entries: int = 10_000) -> Keyring:
    """Configure ``root`` for the store and unwrap every domain key; create DK 1 on a new store.

    Raises RootKindMismatch / RootKeyMismatch (StartupErrors) when ``root`` is not the store's root key.
    Two nodes starting at once on an empty store agree on one DK (insert-if-absent).
    """
    new = await configure_root(store, root)
    if new:
        candidate = root.wrap(os.urandom(DK_BYTES), dk_aad(1))
        await store.insert_meta_if_absent(dk_meta_name(1), candidate)
        await store.insert_meta_if_absent(ACTIVE_DK, b"1")
    keys, active = await load_domain_keys(store, root)
    if not new and await store.get_meta(ROOT_KIND) is None:  # a store from before root.kind: record it now
        await store.insert_meta_if_absent(ROOT_KIND, root.kind.encode())
    return Keyring(keys, active, cache_entries, blocking_dk_loader(store, root))


async def rotate_root(store: Store, old: RootKeyProvider, new: RootKeyProvider) -> int:
    """Re-wrap every domain key of the store under ``new`` (O(1): CMKs and apikeys are untouched).

    ``old`` must unwrap the store's domain keys; ``new`` is configured afresh (a new salt, a new key
    file, the token's mechanism). The new wrapping, kind and parameters replace the old in one
    compare-and-swap transaction, so a concurrent domain-key rotation or a second root rotation makes
    this one fail cleanly instead of losing a key. Afterwards ``old`` is no longer needed. Returns how
    many domain keys were re-wrapped.
    """
    active_raw = await store.get_meta(ACTIVE_DK)
    if active_raw is None:
        raise StartupError("the store has no domain key yet: start pyehsm once before rotating its root key")
    kind_raw = await store.get_meta(ROOT_KIND)
    params_raw = await store.get_meta(ROOT_PARAMS)
    await configure_root(store, old)
    keys, _ = await load_domain_keys(store, old)
    expected: dict[str, bytes | None] = {ROOT_KIND: kind_raw, ROOT_PARAMS: params_raw, ACTIVE_DK: active_raw}
    for dk_id in keys:
        expected[dk_meta_name(dk_id)] = await store.get_meta(dk_meta_name(dk_id))
    expected[dk_meta_name(max(keys) + 1)] = None
    values = {ROOT_KIND: new.kind.encode(), ROOT_PARAMS: new.configure(None)}
    for dk_id, key in keys.items():
        wrapped = new.wrap(key, dk_aad(dk_id))
        if new.unwrap(wrapped, dk_aad(dk_id)) != key:  # a provider that cannot round-trip
            raise StartupError(f"the new root key ({new.describe()}) did not round-trip domain key {dk_id}")
        values[dk_meta_name(dk_id)] = wrapped
    if not await store.replace_meta(expected, values):
        raise StartupError("the store's domain keys changed while the root key was being rotated; run it again")
    return len(keys)
