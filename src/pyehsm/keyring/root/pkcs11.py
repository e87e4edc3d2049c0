"""The ``pkcs11:...`` root key: a non-extractable AES-256 key inside a PKCS#11 token wraps the domain key
(keyring/root/__init__.py describes the spec).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyehsm.errors import StartupError
from pyehsm.extras import PKCS11, MissingExtraError
from pyehsm.keyring.root.base import (
    PKCS11_MODULE_ENV,
    PKCS11_PIN_ENV,
    RootKeyMismatch,
    Unconfigured,
    parse_params,
    read_secret_file,
)

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
                    mechanism = str(parse_params(stored, self.kind).get("mechanism", ""))
                    if mechanism not in ("gcm", "kwp"):
                        raise StartupError("the store's pkcs11 parameters (root.params) name no known mechanism")
        except BaseException:
            _logout(self.config, login)
            raise
        self._login, self._key, self._mechanism = login, key, mechanism
        return json.dumps({"mechanism": mechanism}, sort_keys=True).encode()

    def _ready(self) -> tuple[_TokenLogin, Any]:
        if self._login is None or self._key is None:
            raise Unconfigured(self.kind)
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
