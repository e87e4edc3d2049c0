"""Symmetric crypto and data-key actions: Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext).

Decrypt and GenerateDataKey take an optional ``attestation`` (docs/key-release.md): then the plaintext is
answered as ``ciphertextForRecipient`` (sealed to the bundle's recipient key) and never in the clear; a key
with a release policy refuses them without one. GenerateDataKeyWithoutPlaintext releases nothing: never gated.
"""

from __future__ import annotations

import base64
from typing import Annotated

import msgspec

from pyehsm.crypto.blob import key_version_of
from pyehsm.protocols.ehsm.bundle import Attestation, bundle_of
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
    attestation: Attestation | None = None


class GenerateDataKeyWithoutPlaintextPayload(msgspec.Struct):
    keyid: KeyId
    keylen: Annotated[int, msgspec.Meta(ge=1, le=MAX_DATA_KEY_BYTES)]
    aad: Aad | None = None


class GenerateDataKeyPayload(GenerateDataKeyWithoutPlaintextPayload):
    attestation: Attestation | None = None


async def encrypt(svc: Services, caller: Caller, p: EncryptPayload) -> Reply:
    ct = await svc.symmetric.encrypt(caller.appid, p.keyid, p.plaintext, p.aad or b"")
    return Reply({"ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))


async def decrypt(svc: Services, caller: Caller, p: DecryptPayload) -> Reply:
    version = key_version_of(p.ciphertext)
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        sealed = await svc.release.decrypt(caller.appid, p.keyid, p.ciphertext, p.aad or b"", bundle)
        return Reply({"ciphertextForRecipient": b64(sealed)}, keyid=p.keyid, key_version=version)
    pt = await svc.symmetric.decrypt(caller.appid, p.keyid, p.ciphertext, p.aad or b"")
    return Reply({"plaintext": b64(pt)}, keyid=p.keyid, key_version=version)


async def generate_data_key(svc: Services, caller: Caller, p: GenerateDataKeyPayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        sealed, ct = await svc.release.generate_data_key(caller.appid, p.keyid, p.keylen, p.aad or b"", bundle)
        result = {"ciphertextForRecipient": b64(sealed), "ciphertext": b64(ct)}
        return Reply(result, keyid=p.keyid, key_version=key_version_of(ct))
    key, ct = await svc.symmetric.generate_data_key(caller.appid, p.keyid, p.keylen, p.aad or b"")
    return Reply({"plaintext": b64(key), "ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))


async def generate_data_key_without_plaintext(
    svc: Services, caller: Caller, p: GenerateDataKeyWithoutPlaintextPayload
) -> Reply:
    ct = await svc.symmetric.wrapped_data_key(caller.appid, p.keyid, p.keylen, p.aad or b"")
    return Reply({"ciphertext": b64(ct)}, keyid=p.keyid, key_version=key_version_of(ct))
