"""The ``passphrase[:OPTIONS]`` root key: Argon2id over a passphrase from the environment or a prompt
(keyring/root/__init__.py describes the spec).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from dataclasses import dataclass

from pyehsm.errors import StartupError
from pyehsm.keyring.root.base import (
    MIN_PASSPHRASE_CHARS,
    PASSPHRASE_ENV,
    ROOT_KEY_BYTES,
    Unconfigured,
    aesgcm_unwrap,
    aesgcm_wrap,
    parse_params,
)


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Argon2id cost parameters (public; stored with the salt in the store's meta)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def validate(self) -> Argon2Params:
        if not 1 <= self.time_cost <= 64:
            raise StartupError("passphrase root key: t (Argon2 time cost) must be 1..64")
        if not 1 <= self.parallelism <= 64:
            raise StartupError("passphrase root key: p (Argon2 parallelism) must be 1..64")
        if not 8 * self.parallelism <= self.memory_kib <= 4 * 1024 * 1024:
            raise StartupError("passphrase root key: m (Argon2 memory, KiB) must be 8*p .. 4194304")
        return self


def obtain_passphrase(env_name: str, *, confirm: bool) -> bytes:
    """The passphrase from ``$env_name``, else typed at a prompt when stdin is a terminal.

    A typed passphrase is put into this process's environment under ``env_name`` so that worker
    processes (and later providers in this process) read it without prompting again.
    """
    value = os.environ.get(env_name)
    if value is None and sys.stdin is not None and sys.stdin.isatty():
        import click

        value = click.prompt(
            f"pyehsm root key passphrase ({env_name})", hide_input=True, confirmation_prompt=confirm, err=True, type=str
        )
        os.environ[env_name] = value
    if value is None:
        raise StartupError(f"the passphrase root key needs a passphrase: set {env_name} or run on a terminal")
    if len(value) < MIN_PASSPHRASE_CHARS:
        raise StartupError(f"the root key passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
    return value.encode()


class PassphraseRootKey:
    """An AES-256 key derived with Argon2id from a passphrase and a per-store random salt."""

    kind = "passphrase"

    def __init__(self, env_name: str = PASSPHRASE_ENV, params: Argon2Params | None = None) -> None:
        self.env_name = env_name
        self.params = (params or Argon2Params()).validate()
        self._key: bytes | None = None

    def configure(self, stored: bytes | None) -> bytes:
        if stored is None:
            params = self.params
            salt = os.urandom(16)
        else:
            fields = parse_params(stored, self.kind)
            try:
                if fields["kdf"] != "argon2id":
                    raise StartupError(f"unsupported passphrase key derivation {fields['kdf']!r}")
                params = Argon2Params(int(fields["t"]), int(fields["m"]), int(fields["p"])).validate()
                salt = base64.b64decode(fields["salt"], validate=True)
            except (KeyError, TypeError, ValueError):
                raise StartupError("the store's passphrase parameters (root.params) are malformed") from None
        passphrase = obtain_passphrase(self.env_name, confirm=stored is None)
        from argon2.low_level import Type, hash_secret_raw

        self._key = hash_secret_raw(
            passphrase,
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=ROOT_KEY_BYTES,
            type=Type.ID,
        )
        record = {
            "kdf": "argon2id",
            "t": params.time_cost,
            "m": params.memory_kib,
            "p": params.parallelism,
            "salt": base64.b64encode(salt).decode(),
        }
        return json.dumps(record, sort_keys=True).encode()

    def _ready(self) -> bytes:
        if self._key is None:
            raise Unconfigured(self.kind)
        return self._key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return aesgcm_wrap(self._ready(), plaintext, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return aesgcm_unwrap(
            self._ready(),
            wrapped,
            aad,
            f"wrong passphrase: the passphrase from {self.env_name} (or the prompt) does not unwrap "
            "this store's domain key; nothing was changed",
        )

    def describe(self) -> str:
        return "passphrase"

    def close(self) -> None:
        self._key = None

    def __repr__(self) -> str:
        return f"<PassphraseRootKey env={self.env_name}>"
