"""Domain-key bootstrap: create (first start) or unwrap (every start) the DK under the root key."""

from __future__ import annotations

import os

from pyehsm.keyring.keyring import DK_BYTES, Keyring
from pyehsm.keyring.root import RootKeyProvider
from pyehsm.store.base import Store

ACTIVE_DK = "dk.active"


def dk_meta_name(dk_id: int) -> str:
    return f"dk.{dk_id}"


def dk_aad(dk_id: int) -> bytes:
    return f"pyehsm:dk:v1|{dk_id}".encode()


async def open_keyring(store: Store, root: RootKeyProvider, cache_entries: int = 10_000) -> Keyring:
    """Unwrap every domain key of the store with ``root``; create DK 1 on an empty store.

    Raises RootKeyMismatch (a StartupError) when ``root`` is not the key the store was created with.
    Two nodes starting at once on an empty store agree on one DK (insert-if-absent).
    """
    active_raw = await store.get_meta(ACTIVE_DK)
    if active_raw is None:
        candidate = root.wrap(os.urandom(DK_BYTES), dk_aad(1))
        await store.insert_meta_if_absent(dk_meta_name(1), candidate)
        active_raw = await store.insert_meta_if_absent(ACTIVE_DK, b"1")
    active = int(active_raw.decode())
    keys: dict[int, bytes] = {}
    for dk_id in range(1, active + 1):
        wrapped = await store.get_meta(dk_meta_name(dk_id))
        if wrapped is not None:
            keys[dk_id] = root.unwrap(wrapped, dk_aad(dk_id))
    return Keyring(keys, active, cache_entries)
