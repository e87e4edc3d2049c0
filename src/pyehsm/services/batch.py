"""BatchEncrypt, BatchDecrypt, BatchGenerateDataKey and BatchDecapsulate: up to MAX_BATCH_ITEMS single operations in
one request.

Each item runs the single-item operation of SymmetricService (``encrypt_with``, ``decrypt_with``,
``generate_data_key_with``: the same code as Encrypt, Decrypt and GenerateDataKey), with its key resolved
once per distinct keyid in the batch; a BatchDecapsulate item runs AsymmetricService.decapsulate (as
Decapsulate; a key with a release policy is refused: a batch carries no attestation bundle). An item's
outcome is its result or its domain error, in request order: one bad item (unknown or foreign key,
disabled key, bad ciphertext...) never fails the others. Only a batch larger than MAX_BATCH_ITEMS is
refused as a whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar, Union

from pyehsm.crypto.keyspecs import KeySpec
from pyehsm.errors import DomainError, TooManyItems
from pyehsm.services.asymmetric import AsymmetricService
from pyehsm.services.symmetric import SymmetricService
from pyehsm.store.records import KeyRecord

MAX_BATCH_ITEMS = 100

T = TypeVar("T")
Outcome: TypeAlias = Union[T, DomainError]  # noqa: UP007 - an item's result, or why it was refused


@dataclass(frozen=True, slots=True)
class EncryptItem:
    keyid: str
    plaintext: bytes
    aad: bytes = b""


@dataclass(frozen=True, slots=True)
class DecryptItem:
    keyid: str
    ciphertext: bytes
    aad: bytes = b""


@dataclass(frozen=True, slots=True)
class DataKeyItem:
    keyid: str
    keylen: int
    aad: bytes = b""


@dataclass(frozen=True, slots=True)
class DecapsulateItem:
    keyid: str
    ciphertext: bytes


_I = TypeVar("_I", EncryptItem, DecryptItem, DataKeyItem)


class BatchService:
    def __init__(self, symmetric: SymmetricService, asymmetric: AsymmetricService) -> None:
        self._symmetric = symmetric
        self._asymmetric = asymmetric

    def __repr__(self) -> str:
        return "<BatchService>"

    @staticmethod
    def check_size(count: int) -> None:
        """TooManyItems if a batch of ``count`` items is too large (a protocol may check before decoding items)."""
        if count > MAX_BATCH_ITEMS:
            raise TooManyItems("items", MAX_BATCH_ITEMS)

    async def encrypt(self, appid: str, items: Sequence[EncryptItem]) -> list[Outcome[bytes]]:
        """Each item's ciphertext (as Encrypt) or its domain error, in order."""
        run = self._symmetric.encrypt_with
        return await self._each(appid, items, lambda r, s, i: run(r, s, i.plaintext, i.aad))

    async def decrypt(self, appid: str, items: Sequence[DecryptItem]) -> list[Outcome[bytes]]:
        """Each item's plaintext (as Decrypt) or its domain error, in order."""
        run = self._symmetric.decrypt_with
        return await self._each(appid, items, lambda r, s, i: run(r, s, i.ciphertext, i.aad))

    async def generate_data_key(self, appid: str, items: Sequence[DataKeyItem]) -> list[Outcome[tuple[bytes, bytes]]]:
        """Each item's (plaintext data key, its ciphertext) (as GenerateDataKey) or its domain error, in order."""
        run = self._symmetric.generate_data_key_with
        return await self._each(appid, items, lambda r, s, i: run(r, s, i.keylen, i.aad))

    async def decapsulate(self, appid: str, items: Sequence[DecapsulateItem]) -> list[Outcome[bytes]]:
        """Each item's shared secret (as Decapsulate, each distinct key resolved once) or its domain error, in
        order."""
        self.check_size(len(items))
        keys: dict[str, Callable[[bytes], bytes] | DomainError] = {}
        outcomes: list[Outcome[bytes]] = []
        for item in items:
            key = keys.get(item.keyid)
            if key is None:
                try:
                    key = await self._asymmetric.decapsulator(appid, item.keyid)
                except DomainError as exc:
                    key = exc
                keys[item.keyid] = key
            if isinstance(key, DomainError):
                outcomes.append(key)
                continue
            try:
                outcomes.append(key(item.ciphertext))
            except DomainError as exc:
                outcomes.append(exc)
        return outcomes

    async def _each(
        self,
        appid: str,
        items: Sequence[_I],
        run: Callable[[KeyRecord, KeySpec, _I], Awaitable[T]],
    ) -> list[Outcome[T]]:
        self.check_size(len(items))
        keys: dict[str, tuple[KeyRecord, KeySpec] | DomainError] = {}
        outcomes: list[Outcome[T]] = []
        for item in items:
            key = keys.get(item.keyid)
            if key is None:
                try:
                    key = await self._symmetric.resolve(appid, item.keyid)
                except DomainError as exc:
                    key = exc
                keys[item.keyid] = key
            if isinstance(key, DomainError):
                outcomes.append(key)
                continue
            try:
                outcomes.append(await run(key[0], key[1], item))
            except DomainError as exc:
                outcomes.append(exc)
        return outcomes
