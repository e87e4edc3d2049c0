"""MACs and random bytes on the AWS door: GenerateMac, VerifyMac, GenerateRandom.

An AWS HMAC_224/256/384/512 key is an EH_HMAC key of 28/32/48/64 bytes, and its AWS KeySpec follows from its
length (keyspecs.py ``hmac_spec``): the one MacAlgorithm of that spec is accepted, any other answers
InvalidKeyUsageException, as on AWS. The MAC itself is MacService's (crypto/hmac.py), compared in constant time.
"""

from __future__ import annotations

from typing import Any

from pyehsm.crypto.keyspecs import Operation
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, missing
from pyehsm.protocols.awskms.ops.context import MAX_CIPHERTEXT, MAX_PLAINTEXT, Ctx, refuse_if_set
from pyehsm.services.mac import MAX_RANDOM_BYTES, MIN_RANDOM_BYTES
from pyehsm.store.records import KeyRecord


async def mac_key_bytes(ctx: Ctx, record: KeyRecord) -> int | None:
    """The key length of an HMAC key, for its AWS KeySpec (``key_metadata(..., mac_key_bytes=...)``); None for
    any other key, and for an external HMAC key still awaiting its material."""
    if k.aws_usage(record.keyusage, record.keyspec) != "GENERATE_VERIFY_MAC":
        return None
    return await ctx.services.mac.key_bytes(ctx.appid, record.keyid)


async def _mac_request(ctx: Ctx, req: f.Request, op: Operation) -> tuple[str, bytes, str]:
    """(keyid, message, MacAlgorithm) checked against the key's spec (InvalidKeyUsageException otherwise)."""
    keyid = await ctx.key(req)
    message = f.required_blob(req, "Message", MAX_PLAINTEXT)
    algorithm = f.choice(req, "MacAlgorithm", k.ALL_MAC_ALGORITHMS)
    if algorithm is None:
        raise missing("MacAlgorithm")
    refuse_if_set(req, "DryRun", "pyehsm has no dry runs")
    size = await ctx.services.mac.key_bytes(ctx.appid, keyid, op)
    assert size is not None  # resolved for ``op``: the key has its material
    spec = k.hmac_spec(size)
    if algorithm != k.MAC_ALGORITHM_OF[spec]:
        raise AwsError(
            "InvalidKeyUsageException",
            f"MacAlgorithm {algorithm} is not valid for this key: its KeySpec {spec} takes {k.MAC_ALGORITHM_OF[spec]}.",
        )
    return keyid, message, algorithm


async def generate_mac(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, message, algorithm = await _mac_request(ctx, req, Operation.GENERATE_MAC)
    mac = await ctx.services.mac.generate_mac(ctx.appid, keyid, message, algorithm)
    return {"Mac": f.b64(mac), "MacAlgorithm": algorithm, "KeyId": ctx.arn(keyid)}


async def verify_mac(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    mac = f.required_blob(req, "Mac", MAX_CIPHERTEXT)
    keyid, message, algorithm = await _mac_request(ctx, req, Operation.VERIFY_MAC)
    if not await ctx.services.mac.verify_mac(ctx.appid, keyid, message, algorithm, mac):
        raise AwsError("KMSInvalidMacException", "The MAC is not valid for this message, key and MacAlgorithm.")
    return {"KeyId": ctx.arn(keyid), "MacValid": True, "MacAlgorithm": algorithm}


async def generate_random(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    size = f.integer(req, "NumberOfBytes", MIN_RANDOM_BYTES, MAX_RANDOM_BYTES)
    store = f.text(req, "CustomKeyStoreId", max_len=64)
    if store is not None:
        raise AwsError("CustomKeyStoreNotFoundException", f"Custom key store '{store}' does not exist.")
    refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    if size is None:
        raise missing("NumberOfBytes")
    return {"Plaintext": f.b64(ctx.services.random.generate_random(size))}
