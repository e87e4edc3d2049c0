"""Symmetric crypto and data-key actions: Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext)."""

from __future__ import annotations

import base64
from typing import Annotated

import msgspec

from pyehsm.crypto.blob import key_version_of
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import Aad, Ciphertext, Data, KeyId
from pyehsm.services.container import Services

MAX_DATA_KEY_BYTES = 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class EncryptPayload(msgspec.Struct):
    keyid: KeyId
    plaintext: Data
    aad: Aad | None = None


class DecryptPayload(msgspec.Struct):
    keyid: KeyId
    ciphertext: Ciphertext
    aad: Aad | None = None


class GenerateDataKeyPayload(msgspec.Struct):
    keyid: KeyId
    keylen: Annotated[int, msgspec.Meta(ge=1, le=MAX_DATA_KEY_BYTES)]
    aad: Aad | None = None


async def encrypt(svc: Services, caller: Caller, p: EncryptPayload) -> Reply:
    ct = await svc.symmetric.encrypt(caller.appid, p.keyid, p.plaintext, p.aad or b"")
    return Reply({"ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))


async def decrypt(svc: Services, caller: Caller, p: DecryptPayload) -> Reply:
    pt = await svc.symmetric.decrypt(caller.appid, p.keyid, p.ciphertext, p.aad or b"")
    return Reply({"plaintext": b64(pt)}, keyid=p.keyid, key_version=key_version_of(p.ciphertext))


async def generate_data_key(svc: Services, caller: Caller, p: GenerateDataKeyPayload) -> Reply:
    key, ct = await svc.symmetric.generate_data_key(caller.appid, p.keyid, p.keylen, p.aad or b"")
    return Reply({"plaintext": b64(key), "ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))


async def generate_data_key_without_plaintext(svc: Services, caller: Caller, p: GenerateDataKeyPayload) -> Reply:
    _, ct = await svc.symmetric.generate_data_key(caller.appid, p.keyid, p.keylen, p.aad or b"")
    return Reply({"ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))
