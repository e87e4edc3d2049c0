"""What every root-key provider shares: the RootKeyProvider protocol, RootKeyMismatch, AES-GCM wrapping,
the checks on secret files and on the parameters the store keeps (``root.params``).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.errors import StartupError

ROOT_KEY_BYTES = 32
PASSPHRASE_ENV = "PYEHSM_PASSPHRASE"
PKCS11_PIN_ENV = "PYEHSM_PKCS11_PIN"
PKCS11_MODULE_ENV = "PYEHSM_PKCS11_MODULE"
MIN_PASSPHRASE_CHARS = 8
MAX_SECRET_FILE_BYTES = 4096


class RootKeyMismatch(StartupError):
    """The configured root key does not unwrap this store's domain key."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            detail
            or "the configured root key does not match this store: the wrapped domain key failed "
            "authentication (was the store created with another root key or provider?)"
        )


class RootKeyProvider(Protocol):
    """Wraps the domain keys. ``kind``, ``describe()`` and ``repr()`` never reveal secret values.

    Life cycle: build from a spec, ``configure()`` once with the parameters the store holds for
    it, then ``wrap``/``unwrap`` (thread-safe), ``close()`` at shutdown.
    """

    kind: str

    def configure(self, stored: bytes | None) -> bytes:
        """Get ready with the public parameters the store keeps for this provider (``root.params``).

        ``stored`` is None when the provider is set up for a new store or as a root-rotation target:
        the provider then chooses them (a fresh salt, a mechanism) and may create its key (a new key
        file). Returns the parameters to keep in the store. Raises StartupError for a missing key,
        a wrong PIN, an unreadable token or malformed parameters.
        """
        ...

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Raises RootKeyMismatch when the wrapped value was not made by this root key."""
        ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


def aesgcm_wrap(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aesgcm_unwrap(key: bytes, wrapped: bytes, aad: bytes, detail: str = "") -> bytes:
    try:
        return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
    except (InvalidTag, ValueError):
        raise RootKeyMismatch(detail) from None


def check_private_file(path: Path, what: str = "root key file") -> None:
    """Refuse a secret file that group or others can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(
            f"refusing to start: {what} {path} has mode {stat.S_IMODE(mode):04o}; "
            f"it must not be accessible by group or others (chmod 600 {path})"
        )


def read_secret_file(path: Path, what: str) -> bytes:
    """The content of a 0600 secret file (a PIN file), without a trailing newline."""
    try:
        check_private_file(path, what)
        data = path.read_bytes()[: MAX_SECRET_FILE_BYTES + 1]
    except FileNotFoundError:
        raise StartupError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise StartupError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise StartupError(f"{what} {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    return data.rstrip(b"\r\n")


def parse_params(stored: bytes, kind: str) -> dict[str, Any]:
    try:
        params = json.loads(stored.decode()) if stored else {}
    except (UnicodeDecodeError, ValueError):
        params = None
    if not isinstance(params, dict):
        raise StartupError(f"the store's root.params for the {kind} root key are malformed")
    return params


class Unconfigured(StartupError):
    """A provider used before configure()."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind} root key provider was used before configure()")
