"""Typed results of the SDK.

Each result is a frozen dataclass with snake_case attributes, and also a read-only mapping over the
wire ``result`` object (``info.keyid == info["keyid"]``), so code written against plain dicts keeps
working. Fields that hold plaintext (data keys, secret values) are left out of ``repr``.

    >>> info = KeyInfo.from_result({"keyid": "k", "keyspec": "EH_AES_GCM_256", "keyState": 1})
    >>> info.enabled, info["keyspec"]
    (True, 'EH_AES_GCM_256')
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from pyehsm.client.errors import error_for


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _opt_int(value: Any) -> int | None:
    return None if value in (None, "") else _int(value)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


class Encapsulation(NamedTuple):
    """Encapsulate's answer: the shared secret and the KEM ciphertext to send to the key's owner.

    A tuple, so ``secret, ciphertext = client.encapsulate(keyid)`` works; repr hides the secret.
    """

    shared_secret: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return (
            f"Encapsulation(shared_secret=<{len(self.shared_secret)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>)"
        )


@dataclass(frozen=True, eq=False)
class Result(Mapping[str, Any]):
    """Base of the typed results: a read-only mapping over the wire ``result`` object."""

    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, kw_only=True)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class Response:
    """One response envelope as received: ``code``, ``message`` and ``result``."""

    code: int
    message: str
    result: dict[str, Any]

    def raise_for_code(self) -> dict[str, Any]:
        """``result`` when ``code`` is 200, else the matching :mod:`pyehsm.client.errors` exception."""
        if self.code != 200:
            raise error_for(self.code, self.message)
        return self.result


@dataclass(frozen=True, eq=False)
class VersionInfo(Result):
    version: str
    git_sha: str

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> VersionInfo:
        return cls(_str(r.get("version")), _str(r.get("git_sha")), raw=r)


@dataclass(frozen=True, eq=False)
class KeyInfo(Result):
    """One entry of ListKey."""

    keyid: str
    keyspec: str
    key_state: int
    creation_date: int = 0
    expire_time: int = 0
    alias: str = ""
    keyusage: str | None = None
    origin: str | None = None
    state: str | None = None
    deletion_date: int | None = None  # set while the key is pending deletion (ScheduleKeyDeletion)

    @property
    def enabled(self) -> bool:
        return self.key_state == 1

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> KeyInfo:
        return cls(
            keyid=_str(r.get("keyid")),
            keyspec=_str(r.get("keyspec")),
            key_state=_int(r.get("keyState")),
            creation_date=_int(r.get("creationDate")),
            expire_time=_int(r.get("expireTime")),
            alias=_str(r.get("alias")),
            keyusage=r.get("keyusage"),
            origin=r.get("origin"),
            state=r.get("state"),
            deletion_date=_opt_int(r.get("deletionDate")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class KeyPage(Result):
    """One page of ListKey (``limit``/``marker``): its keys (``entries``) and the marker of the next page (None:
    the last page)."""

    entries: list[KeyInfo]
    next_marker: str | None

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> KeyPage:
        entries = [KeyInfo.from_result(k) for k in r.get("list") or ()]
        return cls(entries, r.get("nextMarker") if r.get("truncated") else None, raw=r)


@dataclass(frozen=True, eq=False)
class KeyDescription(Result):
    """DescribeKey: a key's metadata (never its material)."""

    keyid: str
    keyspec: str
    keyusage: str
    origin: str
    state: str
    description: str
    creation_date: int
    primary_version: int
    version_count: int
    rotation_period_days: int | None
    next_rotation_date: int | None
    aliases: list[str]
    tags: dict[str, str]
    deletion_date: int | None

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> KeyDescription:
        return cls(
            keyid=_str(r.get("keyid")),
            keyspec=_str(r.get("keyspec")),
            keyusage=_str(r.get("keyusage")),
            origin=_str(r.get("origin")),
            state=_str(r.get("state")),
            description=_str(r.get("description")),
            creation_date=_int(r.get("creationDate")),
            primary_version=_int(r.get("primaryVersion"), 1),
            version_count=_int(r.get("versionCount"), 1),
            rotation_period_days=_opt_int(r.get("rotationPeriodInDays")),
            next_rotation_date=_opt_int(r.get("nextRotationDate")),
            aliases=[str(a) for a in r.get("aliases") or ()],
            tags={str(k): str(v) for k, v in (r.get("tags") or {}).items()},
            deletion_date=_opt_int(r.get("deletionDate")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class AliasInfo(Result):
    alias: str
    keyid: str
    creation_date: int = 0

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> AliasInfo:
        return cls(_str(r.get("alias")), _str(r.get("keyid")), _int(r.get("creationDate")), raw=r)


@dataclass(frozen=True, eq=False)
class AliasPage(Result):
    """ListAliases: the aliases and the marker of the next page (None: last page)."""

    aliases: list[AliasInfo]
    next_marker: str | None

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> AliasPage:
        aliases = [AliasInfo.from_result(a) for a in r.get("list") or ()]
        return cls(aliases, r.get("nextMarker") if r.get("truncated") else None, raw=r)


class DataKey(NamedTuple):
    """GenerateDataKey's answer: the plaintext data key and its ciphertext under the CMK.

    A tuple, so ``plaintext, ciphertext = client.generate_data_key(...)`` works; repr hides the key.
    """

    plaintext: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"DataKey(plaintext=<{len(self.plaintext)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>)"


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchItem(Generic[T]):
    """One item of a batch answer, in request order: the envelope the single Action would have answered.
    ``value`` is the parsed result when ``code`` is 200 (hidden from repr: it may be plaintext), else None."""

    code: int
    message: str
    value: T | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.code == 200

    def unwrap(self) -> T:
        """``value``, or the :mod:`pyehsm.client.errors` exception this item's error maps to."""
        if self.code != 200 or self.value is None:
            raise error_for(self.code, self.message)
        return self.value

    @classmethod
    def from_envelope(cls, entry: Mapping[str, Any], parse: Any) -> BatchItem[T]:
        code, message = _int(entry.get("code")), _str(entry.get("message"))
        result = entry.get("result")
        value = parse(result) if code == 200 and isinstance(result, dict) else None
        return cls(code, message, value)


@dataclass(frozen=True, eq=False)
class ImportParameters(Result):
    """GetParametersForImport's answer: the wrapping public key (PEM) and the import token."""

    pubkey: str
    import_token: str = field(repr=False)

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> ImportParameters:
        token = r.get("importToken", r.get("ImportToken"))
        return cls(_str(r.get("pubkey")), _str(token), raw=r)


@dataclass(frozen=True, eq=False)
class Quote(Result):
    """GenerateQuote's answer: the echoed challenge and the quote (both raw bytes; ``raw`` keeps the base64)."""

    challenge: bytes
    quote: bytes = field(repr=False)

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> Quote:
        return cls(unb64(_str(r.get("challenge"))), unb64(_str(r.get("quote"))), raw=r)


@dataclass(frozen=True, eq=False)
class QuoteVerification(Result):
    """VerifyQuote's answer; ``sign`` has already been checked with the app's apikey by the client.

    ``nonce`` is the echoed nonce as raw bytes (``raw["nonce"]`` keeps the base64 the server signed)."""

    valid: bool
    nonce: bytes
    mr_enclave: str = ""
    mr_signer: str = ""
    sign: str = ""

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> QuoteVerification:
        return cls(
            valid=bool(_int(r.get("result"))) or r.get("result") is True,
            nonce=unb64(_str(r.get("nonce"))),
            mr_enclave=_str(r.get("mr_enclave")),
            mr_signer=_str(r.get("mr_signer")),
            sign=_str(r.get("sign")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class QuotePolicy(Result):
    policy_id: str
    mr_enclave: str
    mr_signer: str
    create_time: int = 0

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> QuotePolicy:
        return cls(
            _str(r.get("policyId")),
            _str(r.get("mr_enclave")),
            _str(r.get("mr_signer")),
            _int(r.get("createTime")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class KeyVersion(Result):
    """One version of a key (RotateKey's answer, an entry of ListKeyRotations)."""

    version: int
    creation_date: int
    rotation_type: str  # Created, OnDemand, Automatic or Imported
    state: str  # Enabled, or Disabled (below the minimum decryption version)
    primary: bool

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> KeyVersion:
        return cls(
            _int(r.get("version")),
            _int(r.get("creationDate")),
            _str(r.get("rotationType") or "OnDemand"),
            _str(r.get("state") or "Enabled"),
            bool(r.get("primary", True)),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class KeyRotations(Result):
    """A key's rotation settings and (ListKeyRotations) its versions, oldest first."""

    keyid: str
    rotation_period_in_days: int  # 0: automatic rotation off
    next_rotation_date: int | None
    primary_version: int
    min_decryption_version: int
    versions: list[KeyVersion]

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> KeyRotations:
        return cls(
            _str(r.get("keyid")),
            _int(r.get("rotationPeriodInDays")),
            _opt_int(r.get("nextRotationDate")),
            _int(r.get("primaryVersion"), 1),
            _int(r.get("minDecryptionVersion"), 1),
            [KeyVersion.from_result(v) for v in r.get("versions") or ()],
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class ReEncrypted(Result):
    """ReEncrypt's answer: the new ciphertext and the key versions on both sides."""

    ciphertext: bytes
    source_key_id: str
    source_key_version: int
    keyid: str
    key_version: int

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> ReEncrypted:
        return cls(
            unb64(_str(r.get("ciphertext"))),
            _str(r.get("sourceKeyId")),
            _int(r.get("sourceKeyVersion")),
            _str(r.get("keyid")),
            _int(r.get("keyVersion")),
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class SecretVersion(Result):
    version_id: int
    create_time: int

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretVersion:
        return cls(_int(r.get("versionId")), _int(r.get("createTime")), raw=r)


@dataclass(frozen=True, eq=False)
class SecretVersions(Result):
    """ListSecretVersionIds' answer."""

    secret_name: str
    total_count: int
    versions: list[SecretVersion]

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretVersions:
        versions = [SecretVersion.from_result(v) for v in r.get("versionIds") or ()]
        return cls(_str(r.get("secretName")), _int(r.get("totalCount"), len(versions)), versions, raw=r)


@dataclass(frozen=True, eq=False)
class SecretSummary(Result):
    """One entry of ListSecrets."""

    secret_name: str
    description: str = ""
    create_time: int = 0
    planned_delete_time: int | None = None

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretSummary:
        return cls(
            _str(r.get("secretName")),
            _str(r.get("description")),
            _int(r.get("createTime")),
            _opt_int(r.get("plannedDeleteTime")) or None,
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class SecretList(Result):
    """ListSecrets' answer."""

    total_count: int
    secrets: list[SecretSummary]

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretList:
        secrets = [SecretSummary.from_result(s) for s in r.get("secretList") or ()]
        return cls(_int(r.get("totalCount"), len(secrets)), secrets, raw=r)


@dataclass(frozen=True, eq=False)
class SecretDescription(Result):
    """DescribeSecret's answer (times in ms since the epoch; None when not set)."""

    secret_name: str
    description: str = ""
    create_time: int = 0
    planned_delete_time: int | None = None
    rotation_interval: str = ""
    last_rotation_date: int | None = None
    next_rotation_date: int | None = None

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretDescription:
        interval = r.get("rotationInterval", r.get("rationalInterval"))
        return cls(
            secret_name=_str(r.get("secretName")),
            description=_str(r.get("description")),
            create_time=_int(r.get("createTime")),
            planned_delete_time=_opt_int(r.get("plannedDeleteTime")) or None,
            rotation_interval=_str(interval),
            last_rotation_date=_opt_int(r.get("lastRotationDate")) or None,
            next_rotation_date=_opt_int(r.get("nextRotationDate")) or None,
            raw=r,
        )


@dataclass(frozen=True, eq=False)
class SecretValue(Result):
    """GetSecretValue's answer; ``secret_data`` is left out of repr."""

    secret_name: str
    secret_data: str = field(repr=False)
    version_id: int = 0
    create_time: int = 0

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> SecretValue:
        return cls(
            _str(r.get("secretName")),
            _str(r.get("secretData")),
            _int(r.get("versionId")),
            _int(r.get("createTime")),
            raw=r,
        )
