"""ReEncrypt on the AWS door: decrypt under the source key and encrypt under the destination key, inside the
server (RotationService.reencrypt: the plaintext never reaches this adapter).

As on AWS: SourceKeyId is optional for a symmetric ciphertext (the keyed blob names its key) and required for
an asymmetric one, with its SourceEncryptionAlgorithm; a SourceKeyId that is not the ciphertext's key answers
IncorrectKeyException; an encryption context goes with symmetric algorithms only; the same key re-encrypts
under its current (primary) version. The result is in the keyed form, so Decrypt needs no KeyId for it.
"""

from __future__ import annotations

from typing import Any

from pyehsm.errors import DestinationKeyUnusable, DomainError
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import missing, validation
from pyehsm.protocols.awskms.ids import resolve_keyid
from pyehsm.protocols.awskms.ops.context import MAX_CIPHERTEXT, Ctx, refuse_if_set
from pyehsm.protocols.awskms.ops.encryption import check_algorithm_fits
from pyehsm.services.rotation import PublicKeyScheme


def _algorithm(req: f.Request, field: str, context_field: str) -> str:
    name = f.choice(req, field, k.ALL_ENCRYPTION, k.SYMMETRIC_DEFAULT)
    assert name is not None
    if name != k.SYMMETRIC_DEFAULT and req.get(context_field):
        raise validation(f"{context_field} is not supported with asymmetric encryption algorithms.")
    return name


def _scheme(algorithm: str) -> PublicKeyScheme | None:
    return None if algorithm == k.SYMMETRIC_DEFAULT else PublicKeyScheme(k.ASYMMETRIC_ENCRYPTION[algorithm])


async def re_encrypt(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    ciphertext = f.required_blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    source_algorithm = _algorithm(req, "SourceEncryptionAlgorithm", "SourceEncryptionContext")
    destination_algorithm = _algorithm(req, "DestinationEncryptionAlgorithm", "DestinationEncryptionContext")
    source_aad = f.encryption_context(req, "SourceEncryptionContext")
    destination_aad = f.encryption_context(req, "DestinationEncryptionContext")
    if req.get("DestinationKeyId") is None:
        raise missing("DestinationKeyId")
    destination = resolve_keyid(ctx.appid, f.required_text(req, "DestinationKeyId"))
    refuse_if_set(req, "DryRun", "pyehsm has no dry runs")
    if f.text(req, "SourceKeyId") is not None:
        source = await ctx.key(req, "SourceKeyId")
    elif source_algorithm != k.SYMMETRIC_DEFAULT:
        raise validation("SourceKeyId is required when the SourceEncryptionAlgorithm is asymmetric.")
    else:
        named = ctx.services.symmetric.named_key(ciphertext)
        if named is None:
            raise validation("SourceKeyId is required: the ciphertext does not name its key.")
        source = ctx.keyid = named
    await check_algorithm_fits(ctx, source, source_algorithm)
    try:
        await check_algorithm_fits(ctx, destination, destination_algorithm)
    except DomainError as exc:
        raise DestinationKeyUnusable(exc) from None
    out = await ctx.services.rotation.reencrypt(
        ctx.appid,
        source,
        ciphertext,
        source_aad,
        destination,
        destination_aad,
        source_scheme=_scheme(source_algorithm),
        destination_scheme=_scheme(destination_algorithm),
        keyed=True,
    )
    return {
        "CiphertextBlob": f.b64(out.ciphertext),
        "SourceKeyId": ctx.arn(out.source_keyid),
        "KeyId": ctx.arn(out.keyid),
        "SourceEncryptionAlgorithm": source_algorithm,
        "DestinationEncryptionAlgorithm": destination_algorithm,
    }
