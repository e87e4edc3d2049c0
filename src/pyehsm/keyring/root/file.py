"""The ``file:PATH`` root key: 32 random bytes in a 0600 file (keyring/root/__init__.py describes the spec)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pyehsm.errors import StartupError
from pyehsm.keyring.root.base import ROOT_KEY_BYTES, aesgcm_unwrap, aesgcm_wrap, check_private_file

log = logging.getLogger(__name__)


class FileRootKey:
    """32 random bytes in a 0600 file, created when a new store is initialised."""

    kind = "file"

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._create = create
        self._key: bytes | None = None

    def configure(self, stored: bytes | None) -> bytes:
        if not self.path.exists():
            if stored is not None or not self._create:
                raise StartupError(
                    f"root key file {self.path} does not exist, and this store's domain key is wrapped "
                    "by a file root key: restore that file (a new key cannot unwrap existing data)"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, os.urandom(ROOT_KEY_BYTES))
            finally:
                os.close(fd)
            log.warning(
                "created a NEW root key file at %s: back it up now, away from this machine (without it no "
                "stored key, apikey or secret can ever be decrypted, and backups of the store are useless)",
                self.path.resolve(),
            )
        check_private_file(self.path)
        key = self.path.read_bytes()
        if len(key) != ROOT_KEY_BYTES:
            raise StartupError(f"root key file {self.path} must hold exactly {ROOT_KEY_BYTES} bytes")
        self._key = key
        return b"{}"

    def _ready(self) -> bytes:
        if self._key is None:  # the file key has no stored parameters: an existing key file is enough
            self.configure(b"{}")
        assert self._key is not None
        return self._key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return aesgcm_wrap(self._ready(), plaintext, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return aesgcm_unwrap(
            self._ready(),
            wrapped,
            aad,
            f"the root key file {self.path} does not unwrap this store's domain key "
            "(the store was created with, or rotated to, another root key)",
        )

    def describe(self) -> str:
        return f"file:{self.path}"

    def close(self) -> None:
        self._key = None

    def __repr__(self) -> str:
        return f"<FileRootKey {self.path}>"
