"""GenerateMac and VerifyMac with HMAC keys (EH_HMAC), and GenerateRandom.

The key is resolved for its operation (tenancy, state, keyspec and usage rules: KeyService) and its primitive
comes from the keyring's cache, as for Sign; the family (crypto/hmac.py, a :class:`MacFamily`) computes and
compares the MAC in constant time. A MAC carries no key version: it is always made with the primary version.
"""

from __future__ import annotations

import os
from typing import cast

from pyehsm.crypto.family import MacKey
from pyehsm.crypto.keyspecs import Operation, keyspec
from pyehsm.errors import OperationNotSupported, OutOfRange
from pyehsm.services.keys import KeyService
from pyehsm.store.records import KeyState

MIN_RANDOM_BYTES = 1
MAX_RANDOM_BYTES = 1024  # AWS KMS GenerateRandom's range


class MacService:
    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "<MacService>"

    async def _key(self, appid: str, keyid: str, op: Operation) -> MacKey:
        resolved = self._keys.resolve_cached(appid, keyid, op)
        record, spec = resolved if resolved is not None else await self._keys.resolve(appid, keyid, op)
        version = record.primary_version
        key = self._keys.cached_primitive(record, version)
        if key is None:
            key = await self._keys.load_primitive(record, version, spec.load)
        return cast(MacKey, key)  # the keyspec supports ``op``: its family is a MacFamily

    async def key_bytes(self, appid: str, keyid: str, op: Operation | None = None) -> int | None:
        """The length of the MAC key's primary version (not secret: the AWS door names the key's HMAC_* spec
        after it). ``op``: resolved for it as GenerateMac / VerifyMac resolve (its refusals raised); None: in
        any state, for describing the key (None while an external key awaits its material)."""
        if op is not None:
            return (await self._key(appid, keyid, op)).key_bytes
        record = await self._keys.get(appid, keyid)
        spec = keyspec(record.keyspec)
        if not spec.supports(Operation.GENERATE_MAC):
            raise OperationNotSupported(record.keyspec, Operation.GENERATE_MAC.value)
        if record.state is KeyState.PENDING_IMPORT:
            return None
        key = self._keys.cached_primitive(record, record.primary_version)
        if key is None:
            key = await self._keys.load_primitive(record, record.primary_version, spec.load)
        return cast(MacKey, key).key_bytes

    async def generate_mac(self, appid: str, keyid: str, message: bytes, algorithm: str) -> bytes:
        """The full-length MAC of ``message`` under ``algorithm`` (a key of crypto.family.MAC_ALGORITHMS)."""
        key = await self._key(appid, keyid, Operation.GENERATE_MAC)
        return key.generate_mac(message, algorithm)

    async def verify_mac(self, appid: str, keyid: str, message: bytes, algorithm: str, mac: bytes) -> bool:
        """Whether ``mac`` is the full-length MAC of ``message``; compared in constant time."""
        key = await self._key(appid, keyid, Operation.VERIFY_MAC)
        return key.verify_mac(message, algorithm, mac)


class RandomService:
    def __repr__(self) -> str:
        return "<RandomService>"

    def generate_random(self, number_of_bytes: int) -> bytes:
        """``number_of_bytes`` (1..1024) bytes from the operating system's CSPRNG."""
        if not MIN_RANDOM_BYTES <= number_of_bytes <= MAX_RANDOM_BYTES:
            raise OutOfRange("numberOfBytes", MIN_RANDOM_BYTES, MAX_RANDOM_BYTES)
        return os.urandom(number_of_bytes)
