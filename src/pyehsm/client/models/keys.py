"""Typed results about keys: listings, descriptions, aliases, versions, import parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyehsm.client.models.base import Result, _int, _opt_int, _str


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
class ImportParameters(Result):
    """GetParametersForImport's answer: the wrapping public key (PEM) and the import token."""

    pubkey: str
    import_token: str = field(repr=False)

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> ImportParameters:
        token = r.get("importToken", r.get("ImportToken"))
        return cls(_str(r.get("pubkey")), _str(token), raw=r)
