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
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.errors import StartupError
from pyehsm.extras import PKCS11, MissingExtraError

log = logging.getLogger(__name__)

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


def _parse_params(stored: bytes, kind: str) -> dict[str, Any]:
    try:
        params = json.loads(stored.decode()) if stored else {}
    except (UnicodeDecodeError, ValueError):
        params = None
    if not isinstance(params, dict):
        raise StartupError(f"the store's root.params for the {kind} root key are malformed")
    return params


class _Unconfigured(StartupError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"the {kind} root key provider was used before configure()")


# -- file ------------------------------------------------------------------------------------------
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


# -- passphrase ------------------------------------------------------------------------------------
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
            fields = _parse_params(stored, self.kind)
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
            raise _Unconfigured(self.kind)
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


# -- PKCS#11 ---------------------------------------------------------------------------------------
_GCM = b"\x01"  # format byte of a token-wrapped value: nonce 12 | ciphertext | tag 16 (CKM_AES_GCM)
_KWP = b"\x02"  # CKM_AES_KEY_WRAP_PAD of (SHA-256(aad) | plaintext) as a generic secret session object
_PKCS11_MECHANISMS = ("auto", "gcm", "kwp")
_LIBS: dict[str, Any] = {}
_LOGINS: dict[tuple[str, str], _TokenLogin] = {}
_PKCS11_LOCK = threading.Lock()


def _require_pkcs11() -> None:
    """python-pkcs11 is the "pkcs11" extra: without it a PKCS#11 root key cannot start."""
    try:
        import pkcs11  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(*PKCS11) from exc


def _pkcs11_lib(module: str) -> Any:
    """One loaded (C_Initialize'd) library per module path per process. Call with _PKCS11_LOCK held."""
    import pkcs11

    lib = _LIBS.get(module)
    if lib is None:
        if not Path(module).exists():
            raise StartupError(f"PKCS#11 module {module} does not exist")
        try:
            lib = pkcs11.lib(module)
        except pkcs11.PKCS11Error as exc:
            raise StartupError(f"cannot load PKCS#11 module {module}: {type(exc).__name__}") from None
        _LIBS[module] = lib
    return lib


class _TokenLogin:
    """The process's one logged-in session on a token, shared by every provider using that token.

    PKCS#11 login state belongs to the whole application, not to a session: a second C_Login fails and
    closing any logged-in session logs every session out. So providers share this session (under its
    lock: sessions are not thread-safe) and the last one to close it logs out.
    """

    def __init__(self, session: Any, pin_digest: bytes) -> None:
        self.session = session
        self.pin_digest = pin_digest
        self.lock = threading.Lock()
        self.users = 1

    def __repr__(self) -> str:
        return "<TokenLogin>"


@dataclass(frozen=True, slots=True)
class Pkcs11Config:
    module: str
    token: str
    key: str
    pin_env: str = PKCS11_PIN_ENV
    pin_file: str = ""
    mechanism: str = "auto"

    @classmethod
    def parse(cls, arg: str) -> Pkcs11Config:
        fields: dict[str, str] = {}
        for part in arg.split(";"):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep:
                raise StartupError(f"pkcs11 root key: expected NAME=VALUE, got {name!r}")
            if name in ("pin", "pin-value"):
                raise StartupError(
                    "pkcs11 root key: the PIN is never accepted in the spec (it would show in process "
                    f"listings); set {PKCS11_PIN_ENV} or give pin-file=PATH"
                )
            if name not in ("module", "token", "key", "pin-env", "pin-file", "mechanism"):
                raise StartupError(
                    f"pkcs11 root key: unknown option {name!r} "
                    "(known: module, token, key, pin-env, pin-file, mechanism)"
                )
            fields[name] = unquote(value.strip())
        module = fields.get("module") or os.environ.get(PKCS11_MODULE_ENV, "")
        if not module or not fields.get("token") or not fields.get("key"):
            raise StartupError(
                "pkcs11 root key: expected pkcs11:module=PATH;token=LABEL;key=LABEL "
                f"(module may come from {PKCS11_MODULE_ENV})"
            )
        mechanism = fields.get("mechanism", "auto").lower()
        if mechanism not in _PKCS11_MECHANISMS:
            raise StartupError("pkcs11 root key: mechanism must be auto, gcm or kwp")
        return cls(
            module=module,
            token=fields["token"],
            key=fields["key"],
            pin_env=fields.get("pin-env", PKCS11_PIN_ENV),
            pin_file=fields.get("pin-file", ""),
            mechanism=mechanism,
        )

    def pin(self) -> str:
        if self.pin_file:
            return read_secret_file(Path(self.pin_file), "PKCS#11 PIN file").decode()
        value = os.environ.get(self.pin_env)
        if not value:
            raise StartupError(f"the pkcs11 root key needs the token's user PIN: set {self.pin_env} or pin-file=PATH")
        return value

    def describe(self) -> str:
        return f"pkcs11:module={self.module};token={self.token};key={self.key}"


def _login(config: Pkcs11Config) -> _TokenLogin:
    """The shared logged-in session on the configured token (opened and logged in on first use)."""
    import pkcs11
    from pkcs11 import exceptions as p11

    pin_digest = hashlib.sha256(config.pin().encode()).digest()
    with _PKCS11_LOCK:
        login = _LOGINS.get((config.module, config.token))
        if login is not None:
            if not hmac.compare_digest(login.pin_digest, pin_digest):
                raise StartupError(f"PKCS#11 login to token {config.token!r} failed: wrong PIN")
            login.users += 1
            return login
        lib = _pkcs11_lib(config.module)
        try:
            token = lib.get_token(token_label=config.token)
        except p11.NoSuchToken:
            raise StartupError(f"no PKCS#11 token labelled {config.token!r} in module {config.module}") from None
        except p11.MultipleTokensReturned:
            raise StartupError(f"several PKCS#11 tokens are labelled {config.token!r}") from None
        except pkcs11.PKCS11Error as exc:
            raise StartupError(f"cannot list PKCS#11 tokens of {config.module}: {type(exc).__name__}") from None
        try:
            session = token.open(user_pin=config.pin(), rw=True)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise StartupError(f"PKCS#11 login to token {config.token!r} failed: wrong PIN") from None
        except p11.PinLocked:
            raise StartupError(f"PKCS#11 token {config.token!r}: the user PIN is locked") from None
        except pkcs11.PKCS11Error as exc:
            raise StartupError(
                f"cannot open a session on PKCS#11 token {config.token!r}: {type(exc).__name__}"
            ) from None
        login = _TokenLogin(session, pin_digest)
        _LOGINS[(config.module, config.token)] = login
        return login


def _logout(config: Pkcs11Config, login: _TokenLogin) -> None:
    import pkcs11

    with _PKCS11_LOCK:
        login.users -= 1
        if login.users > 0:
            return
        _LOGINS.pop((config.module, config.token), None)
        with login.lock, contextlib.suppress(pkcs11.PKCS11Error):
            login.session.close()


class Pkcs11RootKey:
    """A non-extractable AES-256 key inside a PKCS#11 token; the domain key is wrapped in the token."""

    kind = "pkcs11"

    def __init__(self, config: Pkcs11Config) -> None:
        _require_pkcs11()
        self.config = config
        self._login: _TokenLogin | None = None
        self._key: Any = None
        self._mechanism = ""

    def _find_key(self, session: Any) -> Any | None:
        from pkcs11 import KeyType, ObjectClass
        from pkcs11 import exceptions as p11

        try:
            return session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self.config.key)
        except p11.NoSuchKey:
            return None
        except p11.MultipleObjectsReturned:
            raise StartupError(
                f"several AES keys are labelled {self.config.key!r} in token {self.config.token!r}"
            ) from None

    def generate(self) -> None:
        """Create the AES-256 root key in the token: token object, sensitive, never extractable."""
        from pkcs11 import Attribute, KeyType

        login = _login(self.config)
        try:
            with login.lock:
                if self._find_key(login.session) is not None:
                    raise StartupError(f"token {self.config.token!r} already holds a key labelled {self.config.key!r}")
                login.session.generate_key(
                    KeyType.AES,
                    256,
                    label=self.config.key,
                    store=True,
                    template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.ENCRYPT: True,
                        Attribute.DECRYPT: True,
                        Attribute.WRAP: True,
                        Attribute.UNWRAP: True,
                    },
                )
        finally:
            _logout(self.config, login)

    def configure(self, stored: bytes | None) -> bytes:
        from pkcs11 import Attribute, Mechanism

        self.close()
        login = _login(self.config)
        try:
            with login.lock:
                key = self._find_key(login.session)
                if key is None:
                    raise StartupError(
                        f"no AES key labelled {self.config.key!r} in PKCS#11 token {self.config.token!r} "
                        f"(create one with: pyehsm root-key generate '{self.config.describe()}')"
                    )
                if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
                    raise StartupError(
                        f"the PKCS#11 key {self.config.key!r} is extractable or not sensitive; pyehsm only "
                        "accepts a root key that can never leave the token"
                    )
                if stored is None:
                    mechanism = self.config.mechanism
                    if mechanism == "auto":
                        offered = set(login.session.token.slot.get_mechanisms())
                        mechanism = "gcm" if Mechanism.AES_GCM in offered else "kwp"
                else:
                    mechanism = str(_parse_params(stored, self.kind).get("mechanism", ""))
                    if mechanism not in ("gcm", "kwp"):
                        raise StartupError("the store's pkcs11 parameters (root.params) name no known mechanism")
        except BaseException:
            _logout(self.config, login)
            raise
        self._login, self._key, self._mechanism = login, key, mechanism
        return json.dumps({"mechanism": mechanism}, sort_keys=True).encode()

    def _ready(self) -> tuple[_TokenLogin, Any]:
        if self._login is None or self._key is None:
            raise _Unconfigured(self.kind)
        return self._login, self._key

    # -- wrapping ------------------------------------------------------------------------------
    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
        from pkcs11.mechanisms import GCMParams

        login, key = self._ready()
        with login.lock:
            try:
                if self._mechanism == "gcm":
                    nonce = os.urandom(12)
                    sealed = key.encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
                    return _GCM + nonce + bytes(sealed)
                secret = login.session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                        Attribute.VALUE: hashlib.sha256(aad).digest() + plaintext,
                        Attribute.TOKEN: False,
                        Attribute.SENSITIVE: False,
                        Attribute.EXTRACTABLE: True,
                    }
                )
                try:
                    return _KWP + bytes(key.wrap_key(secret, mechanism=Mechanism.AES_KEY_WRAP_PAD))
                finally:
                    secret.destroy()
            except pkcs11.PKCS11Error as exc:
                raise StartupError(
                    f"the PKCS#11 token {self.config.token!r} refused to wrap: {type(exc).__name__}"
                ) from None

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
        from pkcs11.mechanisms import GCMParams

        login, key = self._ready()
        mismatch = RootKeyMismatch(
            f"the PKCS#11 key {self.config.key!r} in token {self.config.token!r} does not unwrap this "
            "store's domain key (the store was created with, or rotated to, another root key)"
        )
        with login.lock:
            try:
                if wrapped[:1] == _GCM and len(wrapped) > 1 + 12 + 16:
                    nonce, sealed = wrapped[1:13], wrapped[13:]
                    params = GCMParams(nonce, aad)
                    return bytes(key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params))
                if wrapped[:1] == _KWP and len(wrapped) > 1 + 32:
                    secret = key.unwrap_key(
                        ObjectClass.SECRET_KEY,
                        KeyType.GENERIC_SECRET,
                        wrapped[1:],
                        mechanism=Mechanism.AES_KEY_WRAP_PAD,
                        template={Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                    )
                    try:
                        value = bytes(secret[Attribute.VALUE])
                    finally:
                        secret.destroy()
                    if hmac.compare_digest(value[:32], hashlib.sha256(aad).digest()):
                        return value[32:]
            except pkcs11.PKCS11Error:
                raise mismatch from None
        raise mismatch

    def describe(self) -> str:
        return self.config.describe()

    def close(self) -> None:
        login, self._login, self._key = self._login, None, None
        if login is not None:
            _logout(self.config, login)

    def __repr__(self) -> str:
        return f"<Pkcs11RootKey token={self.config.token} key={self.config.key}>"


# -- spec ------------------------------------------------------------------------------------------
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
