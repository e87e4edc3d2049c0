"""Request builders of the key Actions: keys, key metadata (aliases, tags, deletion), key versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pyehsm.client.models import (
    AliasPage,
    KeyDescription,
    KeyInfo,
    KeyPage,
    KeyRotations,
    KeyVersion,
    ReEncrypted,
    b64,
)
from pyehsm.client.operations.call import Call, _field, _none, _opt_b64, _payload, _policy_text

T = TypeVar("T")


# -- keys -------------------------------------------------------------------------------------------
def create_key(
    keyspec: str,
    origin: str = "EH_INTERNAL_KEY",
    keyusage: str | None = None,
    release_policy: str | dict[str, Any] | None = None,
) -> Call[str]:
    policy = _policy_text(release_policy)
    payload = _payload(keyspec=keyspec, origin=origin, keyusage=keyusage or None, releasePolicy=policy)
    return Call("CreateKey", payload, _field("keyid"))


def list_key() -> Call[list[KeyInfo]]:
    def parse(result: dict[str, Any]) -> list[KeyInfo]:
        return [KeyInfo.from_result(entry) for entry in result.get("list") or ()]

    return Call("ListKey", None, parse)


def enable_key(keyid: str) -> Call[None]:
    return Call("EnableKey", {"keyid": keyid}, _none)


def disable_key(keyid: str) -> Call[None]:
    return Call("DisableKey", {"keyid": keyid}, _none)


def delete_key(keyid: str) -> Call[None]:
    return Call("DeleteKey", {"keyid": keyid}, _none)


def delete_all_key() -> Call[None]:
    return Call("DeleteAllKey", None, _none)


def list_key_page(limit: int, marker: str | None = None) -> Call[KeyPage]:
    return Call("ListKey", _payload(limit=limit, marker=marker), KeyPage.from_result)


# -- key metadata (pyehsm; every keyid argument also takes an alias) --------------------------------
def describe_key(keyid: str) -> Call[KeyDescription]:
    return Call("DescribeKey", {"keyid": keyid}, KeyDescription.from_result)


def update_key_description(keyid: str, description: str) -> Call[None]:
    return Call("UpdateKeyDescription", _payload(keyid=keyid, description=description or None), _none)


def create_alias(alias: str, keyid: str) -> Call[None]:
    return Call("CreateAlias", {"alias": alias, "keyid": keyid}, _none)


def update_alias(alias: str, keyid: str) -> Call[None]:
    return Call("UpdateAlias", {"alias": alias, "keyid": keyid}, _none)


def delete_alias(alias: str) -> Call[None]:
    return Call("DeleteAlias", {"alias": alias}, _none)


def list_aliases(keyid: str | None = None, limit: int | None = None, marker: str | None = None) -> Call[AliasPage]:
    return Call("ListAliases", _payload(keyid=keyid, limit=limit, marker=marker), AliasPage.from_result)


def tag_key(keyid: str, tags: Mapping[str, str]) -> Call[None]:
    return Call("TagKey", {"keyid": keyid, "tags": dict(tags)}, _none)


def untag_key(keyid: str, tag_keys: list[str]) -> Call[None]:
    return Call("UntagKey", {"keyid": keyid, "tagKeys": list(tag_keys)}, _none)


def list_key_tags(keyid: str) -> Call[dict[str, str]]:
    def parse(result: dict[str, Any]) -> dict[str, str]:
        return {str(k): str(v) for k, v in (result.get("tags") or {}).items()}

    return Call("ListKeyTags", {"keyid": keyid}, parse)


def schedule_key_deletion(keyid: str, pending_window_days: int | None = None) -> Call[int]:
    def parse(result: dict[str, Any]) -> int:
        return int(result["deletionDate"])

    return Call("ScheduleKeyDeletion", _payload(keyid=keyid, pendingWindowInDays=pending_window_days), parse)


def cancel_key_deletion(keyid: str) -> Call[str]:
    return Call("CancelKeyDeletion", {"keyid": keyid}, _field("state"))


def get_public_key(keyid: str) -> Call[str]:
    return Call("GetPublicKey", {"keyid": keyid}, _field("pubkey"))


# -- key versions (docs/key-rotation.md) -------------------------------------------------------------
def rotate_key(keyid: str) -> Call[KeyVersion]:
    return Call("RotateKey", {"keyid": keyid}, KeyVersion.from_result)


def update_key_rotation(keyid: str, rotation_period_in_days: int | None) -> Call[KeyRotations]:
    payload = _payload(keyid=keyid, rotationPeriodInDays=rotation_period_in_days)
    return Call("UpdateKeyRotation", payload, KeyRotations.from_result)


def list_key_rotations(keyid: str) -> Call[KeyRotations]:
    return Call("ListKeyRotations", {"keyid": keyid}, KeyRotations.from_result)


def update_key_version_policy(keyid: str, min_decryption_version: int) -> Call[KeyRotations]:
    payload = {"keyid": keyid, "minDecryptionVersion": min_decryption_version}
    return Call("UpdateKeyVersionPolicy", payload, KeyRotations.from_result)


def reencrypt(
    keyid: str,
    ciphertext: bytes,
    aad: bytes | None = None,
    destination_key_id: str | None = None,
    destination_aad: bytes | None = None,
) -> Call[ReEncrypted]:
    payload = _payload(
        keyid=keyid,
        ciphertext=b64(ciphertext),
        aad=_opt_b64(aad),
        destinationKeyId=destination_key_id or keyid,
        destinationAad=_opt_b64(destination_aad),
    )
    return Call("ReEncrypt", payload, ReEncrypted.from_result)
