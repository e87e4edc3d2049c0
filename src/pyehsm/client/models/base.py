"""What every typed result shares: base64 helpers, the ``Result`` mapping base, the response envelope."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyehsm.client.errors import error_for

T = TypeVar("T")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _opt_int(value: Any) -> int | None:
    return None if value in (None, "") else _int(value)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


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
