"""Keyring: wrapping under the domain key with AAD binding, the primitive cache, and the root key file."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from pyehsm.errors import InternalFailure, StartupError
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.keyring import Keyring, MaterialRef, PrimitiveCache, UnwrapError
from pyehsm.keyring.root import FileRootKey, RootKeyMismatch
from pyehsm.protocols.ehsm.errors import INTERNAL_ERROR_MESSAGE, to_ehsm
from pyehsm.store.sqlite import SqliteStore

APP_A = "8b4c1b8e-6f2a-4c1e-9d3b-2f0e5a7c9d10"
APP_B = "8b4c1b8e-6f2a-4c1e-9d3b-2f0e5a7c9d11"
KEY_A = "2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e2f"
KEY_B = "2f7d0c3e-1a4b-4c5d-8e6f-7a8b9c0d1e30"
REF = MaterialRef(APP_A, KEY_A, 1, "EH_AES_GCM_256")


def keyring(dk: bytes | None = None) -> Keyring:
    return Keyring({1: dk or os.urandom(32)}, 1, cache_entries=4)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_wrap_unwrap_material() -> None:
    ring = keyring()
    material = os.urandom(32)
    wrapped = ring.wrap_material(REF, material)
    assert material not in wrapped
    assert ring.unwrap_material(REF, wrapped) == material
    assert ring.wrap_material(REF, material) != wrapped  # fresh nonce every time
    assert Keyring.wrapped_dk_id(wrapped) == 1


@pytest.mark.parametrize(
    "other",
    [
        MaterialRef(APP_B, KEY_A, 1, "EH_AES_GCM_256"),
        MaterialRef(APP_A, KEY_B, 1, "EH_AES_GCM_256"),
        MaterialRef(APP_A, KEY_A, 2, "EH_AES_GCM_256"),
        MaterialRef(APP_A, KEY_A, 1, "EH_AES_GCM_128"),
    ],
    ids=["appid", "keyid", "version", "keyspec"],
)
def test_material_is_bound_to_appid_keyid_version_and_keyspec(other: MaterialRef) -> None:
    ring = keyring()
    wrapped = ring.wrap_material(REF, os.urandom(32))
    with pytest.raises(UnwrapError):
        ring.unwrap_material(other, wrapped)


def test_swapped_blobs_are_both_unusable() -> None:
    ring = keyring()
    ref_b = MaterialRef(APP_A, KEY_B, 1, "EH_AES_GCM_256")
    wrapped_a, wrapped_b = ring.wrap_material(REF, os.urandom(32)), ring.wrap_material(ref_b, os.urandom(32))
    with pytest.raises(UnwrapError):
        ring.unwrap_material(REF, wrapped_b)
    with pytest.raises(UnwrapError):
        ring.unwrap_material(ref_b, wrapped_a)


def test_apikeys_are_bound_to_their_app_and_separate_from_material() -> None:
    ring = keyring()
    wrapped = ring.wrap_apikey(APP_A, "apikey-value")
    assert b"apikey-value" not in wrapped
    assert ring.unwrap_apikey(APP_A, wrapped) == "apikey-value"
    with pytest.raises(UnwrapError):
        ring.unwrap_apikey(APP_B, wrapped)
    with pytest.raises(UnwrapError):
        ring.unwrap_material(MaterialRef(APP_A, "", 0, ""), wrapped)


def test_every_bit_of_a_wrapped_value_is_authenticated() -> None:
    ring = keyring()
    wrapped = ring.wrap_material(REF, os.urandom(32))
    for bit in range(len(wrapped) * 8):
        with pytest.raises(UnwrapError):
            ring.unwrap_material(REF, flip(wrapped, bit))
    for cut in range(len(wrapped)):
        with pytest.raises(UnwrapError):
            ring.unwrap_material(REF, wrapped[:cut])


def test_another_domain_key_cannot_unwrap() -> None:
    wrapped = keyring().wrap_material(REF, b"k" * 32)
    with pytest.raises(UnwrapError):
        keyring().unwrap_material(REF, wrapped)


def test_domain_key_rotation_keeps_old_wraps_readable() -> None:
    dk1 = os.urandom(32)
    ring = keyring(dk1)
    old = ring.wrap_material(REF, b"old material")
    ring.add_domain_key(2, os.urandom(32), make_active=True)
    new = ring.wrap_material(REF, b"new material")
    assert (Keyring.wrapped_dk_id(old), Keyring.wrapped_dk_id(new)) == (1, 2)
    assert ring.unwrap_material(REF, old) == b"old material"
    assert ring.unwrap_material(REF, new) == b"new material"
    with pytest.raises(UnwrapError):
        keyring(dk1).unwrap_material(REF, new)  # a node that lacks DK 2
    with pytest.raises(ValueError, match="active domain key missing"):
        Keyring({1: dk1}, 2)


def test_unwrap_error_is_an_opaque_internal_error() -> None:
    assert isinstance(UnwrapError(), InternalFailure)
    err = to_ehsm(UnwrapError())
    assert (err.code, err.message) == (500, INTERNAL_ERROR_MESSAGE)


def test_primitive_is_built_once_cached_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    ring = keyring()
    material = os.urandom(32)
    wrapped = ring.wrap_material(REF, material)
    built: list[bytes] = []

    def build(raw: bytes) -> object:
        built.append(raw)
        return object()

    first = ring.primitive(REF, wrapped, build)
    assert ring.primitive(REF, wrapped, build) is first
    assert built == [material]
    ring.forget(KEY_A)
    assert ring.primitive(REF, wrapped, build) is not first
    assert len(built) == 2
    # a tampered row never reaches build(); the failure is logged with the keyid, never the material
    ring.forget(KEY_A)
    with caplog.at_level(logging.ERROR), pytest.raises(UnwrapError):
        ring.primitive(REF, flip(wrapped, 100), build)
    assert len(built) == 2
    assert KEY_A in caplog.text and "failed authentication" in caplog.text
    assert material.hex() not in caplog.text


def test_primitive_cache_is_a_bounded_lru() -> None:
    cache = PrimitiveCache(2)
    cache.put(("a", 1), "A")
    cache.put(("b", 1), "B")
    assert cache.get(("a", 1)) == "A"  # a becomes most recent
    cache.put(("c", 1), "C")
    assert cache.get(("b", 1)) is None
    assert (cache.get(("a", 1)), cache.get(("c", 1)), len(cache)) == ("A", "C", 2)
    cache.put(("a", 2), "A2")
    cache.evict_key("a")
    assert cache.get(("a", 2)) is None and cache.get(("a", 1)) is None
    assert cache.hits >= 3 and cache.misses >= 3


def test_reprs_hide_secrets() -> None:
    dk = bytes(range(32))
    ring = Keyring({1: dk}, 1)
    assert dk.hex()[:16] not in repr(ring) and "\\x00\\x01" not in repr(ring)


# ------------------------------------------------------------------------------------------------
# root key file and domain key bootstrap (real files, real SQLite)
# ------------------------------------------------------------------------------------------------


def test_root_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "root.key"
    first = FileRootKey(path)
    first.configure(None)  # a new store: the file is created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    wrapped = first.wrap(b"dk", b"aad")
    again = FileRootKey(path)
    again.configure(b"{}")
    assert again.unwrap(wrapped, b"aad") == b"dk"
    assert str(path) in repr(first) and path.read_bytes().hex() not in repr(first)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o710])
def test_root_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    FileRootKey(path).configure(None)
    path.chmod(mode)
    with pytest.raises(StartupError, match="chmod 600"):
        FileRootKey(path).configure(b"{}")


async def test_domain_key_is_created_once_and_needs_the_right_root(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        first = await open_keyring(store, FileRootKey(tmp_path / "root.key"))
        wrapped = first.wrap_material(REF, b"material")
        second = await open_keyring(store, FileRootKey(tmp_path / "root.key"))
        assert second.unwrap_material(REF, wrapped) == b"material"
        assert second.active_dk_id == first.active_dk_id == 1
        FileRootKey(tmp_path / "other.key").configure(None)
        with pytest.raises(RootKeyMismatch):
            await open_keyring(store, FileRootKey(tmp_path / "other.key"))
    finally:
        await store.close()
