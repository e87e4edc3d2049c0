"""Root-key providers. A root key only ever wraps and unwraps the domain key (DESIGN.md section 4).

Every provider authenticates what it unwraps, so a node started with the wrong root key is refused
by the wrapped domain key's AEAD tag, never by trying a key on data.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.errors import StartupError

ROOT_KEY_BYTES = 32


class RootKeyMismatch(StartupError):
    """The configured root key does not unwrap this store's domain key."""

    def __init__(self) -> None:
        super().__init__(
            "the configured root key does not match this store: the wrapped domain key failed "
            "authentication (was the store created with another root key or provider?)"
        )


class RootKeyProvider(Protocol):
    """Wraps the domain key. ``kind`` and ``describe()`` never reveal secret values."""

    kind: str

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Raises RootKeyMismatch when the wrapped value was not made by this root key."""
        ...

    def describe(self) -> str: ...


def aesgcm_wrap(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aesgcm_unwrap(key: bytes, wrapped: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
    except (InvalidTag, ValueError):
        raise RootKeyMismatch from None


def check_private_file(path: Path) -> None:
    """Refuse a secret file that group or others can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(
            f"refusing to start: root key file {path} has mode {stat.S_IMODE(mode):04o}; "
            f"it must not be accessible by group or others (chmod 600 {path})"
        )


class FileRootKey:
    """32 random bytes in a 0600 file, created on first start."""

    kind = "file"

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if not path.exists():
            if not create:
                raise StartupError(f"root key file {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, os.urandom(ROOT_KEY_BYTES))
            finally:
                os.close(fd)
        check_private_file(path)
        key = path.read_bytes()
        if len(key) != ROOT_KEY_BYTES:
            raise StartupError(f"root key file {path} must hold exactly {ROOT_KEY_BYTES} bytes")
        self._key = key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return aesgcm_wrap(self._key, plaintext, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return aesgcm_unwrap(self._key, wrapped, aad)

    def describe(self) -> str:
        return f"file:{self.path}"

    def __repr__(self) -> str:
        return f"<FileRootKey {self.path}>"


def root_provider_from_spec(spec: str) -> RootKeyProvider:
    """Build the provider named by ``--root-key`` (``file:PATH``)."""
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return FileRootKey(Path(arg))
    raise StartupError(f"unknown root key provider {spec!r}: expected file:PATH")
