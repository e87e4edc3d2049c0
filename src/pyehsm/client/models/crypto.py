"""Typed results of crypto Actions: data keys, batch items, encapsulations, re-encryptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple

from pyehsm.client.errors import error_for
from pyehsm.client.models.base import Result, T, _int, _str, unb64


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


class DataKey(NamedTuple):
    """GenerateDataKey's answer: the plaintext data key and its ciphertext under the CMK.

    A tuple, so ``plaintext, ciphertext = client.generate_data_key(...)`` works; repr hides the key.
    """

    plaintext: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"DataKey(plaintext=<{len(self.plaintext)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>)"


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
