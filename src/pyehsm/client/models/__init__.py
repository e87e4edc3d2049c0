"""Typed results of the SDK.

Each result is a frozen dataclass with snake_case attributes, and also a read-only mapping over the
wire ``result`` object (``info.keyid == info["keyid"]``), so code written against plain dicts keeps
working. Fields that hold plaintext (data keys, secret values) are left out of ``repr``.

    >>> info = KeyInfo.from_result({"keyid": "k", "keyspec": "EH_AES_GCM_256", "keyState": 1})
    >>> info.enabled, info["keyspec"]
    (True, 'EH_AES_GCM_256')
"""

from __future__ import annotations

from pyehsm.client.models.attestation import (
    Quote,
    QuotePolicy,
    QuoteVerification,
)
from pyehsm.client.models.base import (
    Response,
    Result,
    VersionInfo,
    b64,
    unb64,
)
from pyehsm.client.models.crypto import (
    BatchItem,
    DataKey,
    Encapsulation,
    ReEncrypted,
)
from pyehsm.client.models.keys import (
    AliasInfo,
    AliasPage,
    ImportParameters,
    KeyDescription,
    KeyInfo,
    KeyPage,
    KeyRotations,
    KeyVersion,
)
from pyehsm.client.models.secrets import (
    SecretDescription,
    SecretList,
    SecretSummary,
    SecretValue,
    SecretVersion,
    SecretVersions,
)

__all__ = [
    "AliasInfo",
    "AliasPage",
    "BatchItem",
    "DataKey",
    "Encapsulation",
    "ImportParameters",
    "KeyDescription",
    "KeyInfo",
    "KeyPage",
    "KeyRotations",
    "KeyVersion",
    "Quote",
    "QuotePolicy",
    "QuoteVerification",
    "ReEncrypted",
    "Response",
    "Result",
    "SecretDescription",
    "SecretList",
    "SecretSummary",
    "SecretValue",
    "SecretVersion",
    "SecretVersions",
    "VersionInfo",
    "b64",
    "unb64",
]
