"""What every AWS-door handler shares: the request context (services, caller, region), the key metadata
shape, AWS's size limits, and small helpers."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pyehsm.crypto.keyspecs import Origin
from pyehsm.errors import InvalidMarker, KeyNotFound
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import AwsError, unsupported
from pyehsm.protocols.awskms.ids import account_of, alias_arn, key_arn, resolve_keyid
from pyehsm.services.container import Services
from pyehsm.services.keys import ALIAS_PREFIX
from pyehsm.store.records import KeyRecord, KeyState

MAX_PLAINTEXT = 4096  # Encrypt, Sign, Verify: AWS's limits
MAX_CIPHERTEXT = 6144


@dataclass(slots=True)
class Ctx:
    """One authenticated request: the services, the caller's appid, and the door's region."""

    services: Services
    appid: str
    region: str
    keyid: str | None = None  # the key the request named, for the audit record

    async def key(self, req: f.Request, field: str = "KeyId") -> str:
        """The key id the member names (a key id, key ARN, alias name or alias ARN; an alias is resolved by
        KeyService.get), kept for the audit record."""
        keyid = resolve_keyid(self.appid, f.required_text(req, field))
        if keyid.startswith(ALIAS_PREFIX):
            try:
                keyid = (await self.services.keys.get(self.appid, keyid)).keyid
            except KeyNotFound:
                raise AwsError("NotFoundException", f"Alias {self.alias_arn(keyid)} is not found.") from None
        self.keyid = keyid
        return keyid

    def arn(self, keyid: str) -> str:
        return key_arn(self.region, self.appid, keyid)

    def alias_arn(self, alias: str) -> str:
        return alias_arn(self.region, self.appid, alias)


Handler = Callable[[Ctx, f.Request], Awaitable[dict[str, Any]]]


def epoch(ms: int) -> float:
    return ms / 1000


def key_metadata(ctx: Ctx, record: KeyRecord, mac_key_bytes: int | None = None) -> dict[str, Any]:
    """DescribeKey's KeyMetadata; ``mac_key_bytes``: an HMAC key's length, which names its HMAC_* KeySpec
    (ops/mac.py ``mac_key_bytes``; without it an HMAC key reads as HMAC_256)."""
    spec = k.aws_spec(record.keyspec, mac_key_bytes)
    usage = k.aws_usage(record.keyusage, record.keyspec)
    meta: dict[str, Any] = {
        "AWSAccountId": account_of(ctx.appid),
        "KeyId": record.keyid,
        "Arn": ctx.arn(record.keyid),
        "CreationDate": epoch(record.created_ms),
        "Enabled": record.state is KeyState.ENABLED,
        "Description": record.description,
        "KeyUsage": usage,
        "KeyState": k.STATES[record.state],
        "Origin": k.aws_origin(record.origin),
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "MultiRegion": False,
    }
    if record.deletion_ms is not None:
        meta["DeletionDate"] = epoch(record.deletion_ms)
    if usage == "GENERATE_VERIFY_MAC":
        meta["MacAlgorithms"] = [k.MAC_ALGORITHM_OF[spec]]
    elif usage == "SIGN_VERIFY":
        meta["SigningAlgorithms"] = list(k.SIGNING_BY_SPEC.get(record.keyspec, ()))
    elif usage == "ENCRYPT_DECRYPT":
        meta["EncryptionAlgorithms"] = list(k.encryption_algorithms(record.keyspec))
    meta.update(_import_expiry(record))
    return meta


def _import_expiry(record: KeyRecord) -> dict[str, Any]:
    """KeyMetadata's ExpirationModel and ValidTo of a key with imported material (services/byok.py)."""
    if record.origin != Origin.EXTERNAL.value:
        return {}
    if record.material_expires_ms is None:
        return {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    return {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": epoch(record.material_expires_ms)}


MAX_OFFSET_MARKER_DIGITS = 9  # a listing of at most 10^9 items


def offset_marker(req: f.Request) -> int:
    """The Marker of a listing paged by position (ListKeys, ListKeyRotations): the NextMarker a previous page
    sent, ASCII digits only (``str.isdigit`` also takes superscripts and other scripts' digits, which
    ``int`` refuses or reads); 0 when absent. Anything else: InvalidMarkerException."""
    marker = f.text(req, "Marker", max_len=1024)
    if marker is None:
        return 0
    if not (marker.isascii() and marker.isdigit() and len(marker) <= MAX_OFFSET_MARKER_DIGITS):
        raise InvalidMarker("Marker")
    return int(marker)


def refuse_if_set(req: f.Request, field: str, what: str) -> None:
    value = req.get(field)
    if value not in (None, "", [], {}, False):
        raise unsupported(f"{field}: {what}")


def pem_to_der(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)
