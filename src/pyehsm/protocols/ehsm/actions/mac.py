"""MAC and randomness actions: GenerateMac, VerifyMac (EH_HMAC keys) and GenerateRandom."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from pyehsm.protocols.ehsm.actions.symmetric import b64
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import Data, KeyId
from pyehsm.services.container import Services

# crypto.family.MAC_ALGORITHMS' keys, as a Literal so msgspec validates them (tests check they agree).
MacAlgorithmName = Literal["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512", "HMAC_SM3"]
MAX_MAC_BYTES = 64  # HMAC-SHA-512's; a longer mac is refused as malformed, a shorter wrong one does not verify


class GenerateMacPayload(msgspec.Struct):
    keyid: KeyId
    message: Data
    macAlgorithm: MacAlgorithmName


class VerifyMacPayload(msgspec.Struct):
    keyid: KeyId
    message: Data
    macAlgorithm: MacAlgorithmName
    mac: Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_MAC_BYTES)]


class GenerateRandomPayload(msgspec.Struct):
    # The range (1..1024) is the service's rule (an OutOfRange refusal), shown here for the OpenAPI document.
    numberOfBytes: Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 1, "maximum": 1024})]


async def generate_mac(svc: Services, caller: Caller, p: GenerateMacPayload) -> Reply:
    mac = await svc.mac.generate_mac(caller.appid, p.keyid, p.message, p.macAlgorithm)
    return Reply({"mac": b64(mac)}, keyid=p.keyid)


async def verify_mac(svc: Services, caller: Caller, p: VerifyMacPayload) -> Reply:
    ok = await svc.mac.verify_mac(caller.appid, p.keyid, p.message, p.macAlgorithm, p.mac)
    return Reply({"result": ok}, keyid=p.keyid)


async def generate_random(svc: Services, caller: Caller, p: GenerateRandomPayload) -> Reply:
    return Reply({"plaintext": b64(svc.random.generate_random(p.numberOfBytes))})
