"""Root-key providers. A root key only ever wraps and unwraps the domain keys (docs/architecture.md section 4).

``--root-key`` (env ``PYEHSM_ROOT_KEY``) names the provider:

``file:PATH``
    32 random bytes in a 0600 file, created when a new store is initialised (default
    ``file:<data-dir>/root.key``). A missing file is never re-created for an existing store.

``passphrase[:OPTIONS]``
    The wrapping key is derived with Argon2id from a passphrase read from ``$PYEHSM_PASSPHRASE``
    (or the variable named by ``env=``), or typed at a prompt when stdin is a terminal. OPTIONS,
    ``;``-separated: ``env=NAME``, ``t=`` time cost, ``m=`` memory in KiB, ``p=`` parallelism
    (defaults t=3, m=65536, p=4: RFC 9106's second recommended setting). The salt and the cost
    parameters are chosen when the store is initialised (or the root key rotated) and kept in the
    store's meta table, so a restart re-derives the same key whatever OPTIONS say then.

``pkcs11:module=PATH;token=LABEL;key=LABEL[;pin-file=PATH][;pin-env=NAME][;mechanism=auto|gcm|kwp]``
    A non-extractable AES-256 key inside a PKCS#11 token (created with
    ``pyehsm root-key generate SPEC``) wraps the domain key. The user PIN comes from
    ``$PYEHSM_PKCS11_PIN`` (or the variable named by ``pin-env=``) or from a 0600 file named by
    ``pin-file=``; it is never accepted inside the spec. Values may be percent-encoded (RFC 7512
    style) to carry ``;``. ``module`` defaults to ``$PYEHSM_PKCS11_MODULE``. ``mechanism=auto``
    (the default) picks CKM_AES_GCM when the token offers it (the AAD is bound inside the token),
    else CKM_AES_KEY_WRAP_PAD (the AAD's SHA-256 is wrapped together with the domain key).

Every provider authenticates what it unwraps, so a node started with the wrong root key is refused
by the wrapped domain key's tag (RootKeyMismatch), never by trying a key on data. The store records
which provider kind wraps its domain keys (``root.kind``) and the provider's public parameters
(``root.params``: salt and costs, mechanism); see keyring/domain.py.

One module per provider (file.py, passphrase.py, pkcs11.py) over base.py; this module builds the one a spec
names (root_provider_from_spec).
"""

from __future__ import annotations

from pathlib import Path

from pyehsm.errors import StartupError
from pyehsm.keyring.root.base import (
    MAX_SECRET_FILE_BYTES,
    MIN_PASSPHRASE_CHARS,
    PASSPHRASE_ENV,
    PKCS11_MODULE_ENV,
    PKCS11_PIN_ENV,
    ROOT_KEY_BYTES,
    RootKeyMismatch,
    RootKeyProvider,
    aesgcm_unwrap,
    aesgcm_wrap,
    check_private_file,
    read_secret_file,
)
from pyehsm.keyring.root.file import FileRootKey
from pyehsm.keyring.root.passphrase import Argon2Params, PassphraseRootKey, obtain_passphrase
from pyehsm.keyring.root.pkcs11 import Pkcs11Config, Pkcs11RootKey

__all__ = [
    "MAX_SECRET_FILE_BYTES",
    "MIN_PASSPHRASE_CHARS",
    "PASSPHRASE_ENV",
    "PKCS11_MODULE_ENV",
    "PKCS11_PIN_ENV",
    "ROOT_KEY_BYTES",
    "Argon2Params",
    "FileRootKey",
    "PassphraseRootKey",
    "Pkcs11Config",
    "Pkcs11RootKey",
    "RootKeyMismatch",
    "RootKeyProvider",
    "aesgcm_unwrap",
    "aesgcm_wrap",
    "check_private_file",
    "obtain_passphrase",
    "read_secret_file",
    "root_provider_from_spec",
]


def _passphrase_from_options(arg: str) -> PassphraseRootKey:
    env_name = PASSPHRASE_ENV
    costs: dict[str, int] = {}
    for part in arg.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if name == "env" and sep and value.strip():
            env_name = value.strip()
        elif name in ("t", "m", "p") and sep:
            try:
                costs[name] = int(value)
            except ValueError:
                raise StartupError(f"passphrase root key: {name} must be an integer") from None
        else:
            raise StartupError(f"passphrase root key: unknown option {part!r} (known: env=NAME, t=, m=, p=)")
    defaults = Argon2Params()
    params = Argon2Params(
        costs.get("t", defaults.time_cost), costs.get("m", defaults.memory_kib), costs.get("p", defaults.parallelism)
    )
    return PassphraseRootKey(env_name, params)


def root_provider_from_spec(spec: str) -> RootKeyProvider:
    """Build the provider named by ``--root-key`` (see the module docstring); not configured yet."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "file" and arg:
        return FileRootKey(Path(arg))
    if kind == "passphrase":
        return _passphrase_from_options(arg)
    if kind == "pkcs11":
        return Pkcs11RootKey(Pkcs11Config.parse(arg))
    raise StartupError(
        f"unknown root key provider {spec.split(';', maxsplit=1)[0]!r}: expected file:PATH, passphrase[:OPTIONS] "
        "or pkcs11:module=PATH;token=LABEL;key=LABEL"
    )
