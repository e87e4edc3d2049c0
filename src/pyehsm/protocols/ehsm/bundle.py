"""The ``attestation`` payload field of the gated Actions (docs/key-release.md): a quote, the challenge nonce it
answers and the recipient public key, each base64 on the wire."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from pyehsm.crypto.recipient import MAX_RECIPIENT_KEY_BYTES
from pyehsm.services.release_gate import NONCE_BYTES, AttestationBundle

MAX_QUOTE_BYTES: Final = 16384


class Attestation(msgspec.Struct, forbid_unknown_fields=True):
    """The attestation bundle of a gated request."""

    quote: Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_QUOTE_BYTES)]
    nonce: Annotated[bytes, msgspec.Meta(min_length=NONCE_BYTES, max_length=NONCE_BYTES)]
    recipientPublicKey: Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_RECIPIENT_KEY_BYTES)]


def bundle_of(attestation: Attestation | None) -> AttestationBundle | None:
    if attestation is None:
        return None
    return AttestationBundle(attestation.quote, attestation.nonce, attestation.recipientPublicKey)
