"""Key identifiers on the AWS door: key ids, key ARNs, alias names and ARNs, the account number of an app.

ARN: ``arn:aws:kms:<region>:<account>:key/<keyid>`` (an alias's: ``...:<account>:alias/<name>``); the region
is the adapter's setting (default us-east-1, ``--aws-region``) and the account a stable 12-digit number per
app: the first 8 bytes of SHA-256("pyehsm-aws-account:" + appid) as an unsigned integer, modulo 10^12,
zero-padded. Any region is accepted in an ARN a client sends (the key is the same key); the account must be
the caller's.
"""

from __future__ import annotations

import functools
import hashlib
import re

from pyehsm.protocols.awskms.errors import AwsError
from pyehsm.services.keys import ALIAS_PREFIX

DEFAULT_REGION = "us-east-1"


@functools.lru_cache(maxsize=4096)
def account_of(appid: str) -> str:
    digest = hashlib.sha256(b"pyehsm-aws-account:" + appid.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def key_arn(region: str, appid: str, keyid: str) -> str:
    return f"arn:aws:kms:{region}:{account_of(appid)}:key/{keyid}"


def alias_arn(region: str, appid: str, alias: str) -> str:
    return f"arn:aws:kms:{region}:{account_of(appid)}:{alias}"


def not_found(value: str) -> AwsError:
    return AwsError("NotFoundException", f"Key '{value}' does not exist")


def resolve_keyid(appid: str, value: str) -> str:
    """What a KeyId member names: a key id, a key ARN, an alias name (``alias/x``) or an alias ARN. Returns
    the key id, or the alias name (``alias/x``) for the services to resolve (KeyService.get). An ARN of
    another account, or no identifier at all: NotFoundException."""
    keyid = value
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[1] != "aws" or parts[2] != "kms" or parts[4] != account_of(appid):
            raise not_found(value)
        resource = parts[5]
        if resource.startswith(ALIAS_PREFIX) and len(resource) > len(ALIAS_PREFIX):
            return resource
        if not resource.startswith("key/"):
            raise not_found(value)
        keyid = resource[4:]
    elif value.startswith(ALIAS_PREFIX):
        return value
    if _KEY_ID.fullmatch(keyid) is None:
        raise not_found(value)
    return keyid


# a key id as str(uuid.UUID(...)) writes it: lower-case hex, hyphenated 8-4-4-4-12 (explicit ASCII classes:
# no other script's digits match; tests/unit/test_awskms_ids.py pins it to the uuid round-trip)
_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
