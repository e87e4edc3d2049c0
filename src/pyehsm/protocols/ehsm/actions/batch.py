"""Batch actions: BatchEncrypt, BatchDecrypt, BatchGenerateDataKey, BatchDecapsulate (services/batch.py).

The payload is ``{"items": [...]}``: up to 100 items, each the payload of the single Action (Encrypt,
Decrypt, GenerateDataKey, Decapsulate), each validated on its own. The result is ``{"items": [...]}`` in request order,
each item the envelope the single Action would have answered: ``{"code", "message", "result"}``, its error
rendered through the same table. A bad item never fails the others; a payload that is not a list of at most
100 items fails the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import msgspec

from pyehsm.errors import DomainError
from pyehsm.protocols.ehsm.actions.asymmetric import DecapsulatePayload
from pyehsm.protocols.ehsm.actions.symmetric import DecryptPayload, EncryptPayload, GenerateDataKeyPayload, b64
from pyehsm.protocols.ehsm.errors import EhsmError, ParamError, answer
from pyehsm.protocols.ehsm.handler import SUCCESS, Caller, Reply
from pyehsm.protocols.ehsm.validation import decode_payload
from pyehsm.services.batch import MAX_BATCH_ITEMS, DataKeyItem, DecapsulateItem, DecryptItem, EncryptItem
from pyehsm.services.container import Services

NOT_AN_OBJECT = "Parameter invalid, The item must be an object."

S = TypeVar("S", bound=msgspec.Struct)
R = TypeVar("R")


def _schema(single: str) -> dict[str, Any]:
    """The OpenAPI view of ``items``: at most 100 (the service's limit: TooManyItems), each a ``single`` payload."""
    return {"maxItems": MAX_BATCH_ITEMS, "items": {"$ref": f"#/components/schemas/{single}"}}


# Each item is validated on its own (a bad item gets its own error), so the list holds Any.
EncryptItems = Annotated[list[Any], msgspec.Meta(min_length=1, extra_json_schema=_schema("EncryptPayload"))]
DecryptItems = Annotated[list[Any], msgspec.Meta(min_length=1, extra_json_schema=_schema("DecryptPayload"))]
DataKeyItems = Annotated[list[Any], msgspec.Meta(min_length=1, extra_json_schema=_schema("GenerateDataKeyPayload"))]
DecapsulateItems = Annotated[list[Any], msgspec.Meta(min_length=1, extra_json_schema=_schema("DecapsulatePayload"))]


class BatchEncryptPayload(msgspec.Struct):
    items: EncryptItems


class BatchDecryptPayload(msgspec.Struct):
    items: DecryptItems


class BatchGenerateDataKeyPayload(msgspec.Struct):
    items: DataKeyItems


class BatchDecapsulatePayload(msgspec.Struct):
    items: DecapsulateItems


def _decode(item: Any, struct_type: type[S]) -> S | EhsmError:
    if type(item) is not dict:
        return ParamError(NOT_AN_OBJECT)
    try:
        return decode_payload(item, struct_type)
    except ParamError as exc:
        return exc


def _error(exc: EhsmError | DomainError) -> dict[str, Any]:
    code, message = (exc.code, exc.message) if isinstance(exc, EhsmError) else answer(exc)
    return {"code": code, "message": message, "result": {}}


def _merge(
    decoded: Sequence[msgspec.Struct | EhsmError],
    outcomes: Sequence[R | DomainError],
    render: Callable[[R], dict[str, Any]],
) -> Reply:
    """The reply: each decoded item's outcome (in order) or its validation error, as single-Action envelopes."""
    done = iter(outcomes)
    out: list[dict[str, Any]] = []
    for item in decoded:
        if isinstance(item, EhsmError):
            out.append(_error(item))
            continue
        outcome = next(done)
        if isinstance(outcome, DomainError):
            out.append(_error(outcome))
        else:
            out.append({"code": 200, "message": SUCCESS, "result": render(outcome)})
    return Reply({"items": out})


async def batch_encrypt(svc: Services, caller: Caller, p: BatchEncryptPayload) -> Reply:
    svc.batch.check_size(len(p.items))
    decoded = [_decode(item, EncryptPayload) for item in p.items]
    valid = [EncryptItem(i.keyid, i.plaintext, i.aad or b"") for i in decoded if isinstance(i, EncryptPayload)]
    outcomes = await svc.batch.encrypt(caller.appid, valid)
    return _merge(decoded, outcomes, lambda ct: {"ciphertext": b64(ct)})


async def batch_decrypt(svc: Services, caller: Caller, p: BatchDecryptPayload) -> Reply:
    svc.batch.check_size(len(p.items))
    decoded = [_decode(item, DecryptPayload) for item in p.items]
    valid = [DecryptItem(i.keyid, i.ciphertext, i.aad or b"") for i in decoded if isinstance(i, DecryptPayload)]
    outcomes = await svc.batch.decrypt(caller.appid, valid)
    return _merge(decoded, outcomes, lambda pt: {"plaintext": b64(pt)})


async def batch_generate_data_key(svc: Services, caller: Caller, p: BatchGenerateDataKeyPayload) -> Reply:
    svc.batch.check_size(len(p.items))
    decoded = [_decode(item, GenerateDataKeyPayload) for item in p.items]
    valid = [DataKeyItem(i.keyid, i.keylen, i.aad or b"") for i in decoded if isinstance(i, GenerateDataKeyPayload)]
    outcomes = await svc.batch.generate_data_key(caller.appid, valid)
    return _merge(decoded, outcomes, lambda kc: {"plaintext": b64(kc[0]), "ciphertext": b64(kc[1])})


async def batch_decapsulate(svc: Services, caller: Caller, p: BatchDecapsulatePayload) -> Reply:
    svc.batch.check_size(len(p.items))
    decoded = [_decode(item, DecapsulatePayload) for item in p.items]
    valid = [DecapsulateItem(i.keyid, i.ciphertext) for i in decoded if isinstance(i, DecapsulatePayload)]
    outcomes = await svc.batch.decapsulate(caller.appid, valid)
    return _merge(decoded, outcomes, lambda shared: {"sharedSecret": b64(shared)})
