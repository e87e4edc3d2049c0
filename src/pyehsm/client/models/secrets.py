"""Typed results of the secrets manager."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyehsm.client.models.base import Result, _int, _opt_int, _str


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
