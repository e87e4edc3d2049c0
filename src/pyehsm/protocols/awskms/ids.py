"""Key identifiers on the AWS door: key ids, key ARNs, the account number of an app.

ARN: ``arn:aws:kms:<region>:<account>:key/<keyid>``; the region is the adapter's setting (default
us-east-1) and the account a stable 12-digit number per app: the first 8 bytes of SHA-256("pyehsm-aws-
account:" + appid) as an unsigned integer, modulo 10^12, zero-padded. Any region is accepted in an ARN a
client sends (the key is the same key); the account must be the caller's.
"""

from __future__ import annotations

import functools
import hashlib
import uuid

from pyehsm.protocols.awskms.errors import AwsError

DEFAULT_REGION = "us-east-1"


@functools.lru_cache(maxsize=4096)
def account_of(appid: str) -> str:
    digest = hashlib.sha256(b"pyehsm-aws-account:" + appid.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def key_arn(region: str, appid: str, keyid: str) -> str:
    return f"arn:aws:kms:{region}:{account_of(appid)}:key/{keyid}"


def not_found(value: str) -> AwsError:
    return AwsError("NotFoundException", f"Key '{value}' does not exist")


def resolve_keyid(appid: str, value: str) -> str:
    """The key id named by a KeyId member: a key id or a key ARN (aliases: a later release)."""
    keyid = value
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[1] != "aws" or parts[2] != "kms" or not parts[5].startswith("key/"):
            raise not_found(value)
        if parts[4] != account_of(appid):
            raise not_found(value)
        keyid = parts[5][4:]
    elif value.startswith("alias/"):
        raise AwsError("NotFoundException", f"Alias '{value}' is not found (aliases: not in this release).")
    try:
        parsed = uuid.UUID(keyid)
    except ValueError:
        raise not_found(value) from None
    if str(parsed) != keyid:
        raise not_found(value)
    return keyid
