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


_I = TypeVar("_I", EncryptItem, DecryptItem, DataKeyItem, DecapsulateItem)
_K = TypeVar("_K")


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
        return await self._each(items, self._resolver(appid), lambda k, i: run(k[0], k[1], i.plaintext, i.aad))

    async def decrypt(self, appid: str, items: Sequence[DecryptItem]) -> list[Outcome[bytes]]:
        """Each item's plaintext (as Decrypt) or its domain error, in order."""
        run = self._symmetric.decrypt_with
        return await self._each(items, self._resolver(appid), lambda k, i: run(k[0], k[1], i.ciphertext, i.aad))

    async def generate_data_key(self, appid: str, items: Sequence[DataKeyItem]) -> list[Outcome[tuple[bytes, bytes]]]:
        """Each item's (plaintext data key, its ciphertext) (as GenerateDataKey) or its domain error, in order."""
        run = self._symmetric.generate_data_key_with
        return await self._each(items, self._resolver(appid), lambda k, i: run(k[0], k[1], i.keylen, i.aad))

    async def decapsulate(self, appid: str, items: Sequence[DecapsulateItem]) -> list[Outcome[bytes]]:
        """Each item's shared secret (as Decapsulate) or its domain error, in order."""

        async def resolve(keyid: str) -> Callable[[bytes], bytes]:
            return await self._asymmetric.decapsulator(appid, keyid)

        async def run(decapsulate: Callable[[bytes], bytes], item: DecapsulateItem) -> bytes:
            return decapsulate(item.ciphertext)

        return await self._each(items, resolve, run)

    def _resolver(self, appid: str) -> Callable[[str], Awaitable[tuple[KeyRecord, KeySpec]]]:
        return lambda keyid: self._symmetric.resolve(appid, keyid)

    async def _each(
        self,
        items: Sequence[_I],
        resolve: Callable[[str], Awaitable[_K]],
        run: Callable[[_K, _I], Awaitable[T]],
    ) -> list[Outcome[T]]:
        """Each item run with its key, each distinct keyid resolved once; a refusal is the item's outcome."""
        self.check_size(len(items))
        keys: dict[str, _K | DomainError] = {}
        outcomes: list[Outcome[T]] = []
        for item in items:
            key = keys.get(item.keyid)
            if key is None:
                try:
                    key = await resolve(item.keyid)
                except DomainError as exc:
                    key = exc
                keys[item.keyid] = key
            if isinstance(key, DomainError):
                outcomes.append(key)
                continue
            try:
                outcomes.append(await run(key, item))
            except DomainError as exc:
                outcomes.append(exc)
        return outcomes
