"""One request builder per eHSM Action, shared by the sync and async clients.

A builder turns typed arguments into a :class:`Call`: the Action name, the payload exactly as
docs/protocol.md puts it on the wire (field names, base64 for bytes, optional fields left out), whether
the call may be re-sent after a connection failure, and the parser of its ``result``.

    >>> call = encrypt("0b4e...", b"hi")
    >>> call.action, call.payload
    ('Encrypt', {'keyid': '0b4e...', 'plaintext': 'aGk='})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pyehsm.client.errors import ResponseSignatureError
from pyehsm.client.models import (
    AliasPage,
    BatchItem,
    DataKey,
    Encapsulation,
    ImportParameters,
    KeyDescription,
    KeyInfo,
    KeyPage,
    KeyRotations,
    KeyVersion,
    Quote,
    QuotePolicy,
    QuoteVerification,
    ReEncrypted,
    SecretDescription,
    SecretList,
    SecretValue,
    SecretVersions,
    b64,
    unb64,
)
from pyehsm.protocols.ehsm.signing import signature_matches

T = TypeVar("T")

# Actions that change nothing on the server, or whose repetition has the same effect as one call:
# the client may re-send them after a failure that happened once the request may have been sent.
IDEMPOTENT_ACTIONS = frozenset(
    {
        "GetVersion",
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ExportDataKey",
        "AsymmetricEncrypt",
        "AsymmetricDecrypt",
        "Sign",
        "Verify",
        "GetPublicKey",
        "DescribeKey",
        "ListKeyTags",
        "ListAliases",
        "Encapsulate",
        "Decapsulate",
        "DeriveSharedSecret",
        "ListKey",
        "EnableKey",
        "DisableKey",
        "DeleteAllKey",
        "GenerateQuote",
        "VerifyQuote",
        "GetQuotePolicy",
        "GetKeyReleasePolicy",
        "GetSecretReleasePolicy",
        "ListSecretVersionIds",
        "ListSecrets",
        "DescribeSecret",
        "GetSecretValue",
        "UpdateSecretDesc",
        "BatchEncrypt",
        "BatchDecrypt",
        "BatchGenerateDataKey",
        "GenerateMac",
        "VerifyMac",
        "GenerateRandom",
        "UpdateKeyRotation",
        "ListKeyRotations",
        "UpdateKeyVersionPolicy",
        "ReEncrypt",
    }
)

# Every Action of the eHSM REST API, in the order of the API reference.
ALL_ACTIONS = (
    "CreateKey",
    "Encrypt",
    "Decrypt",
    "AsymmetricEncrypt",
    "AsymmetricDecrypt",
    "Sign",
    "Verify",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ExportDataKey",
    "GetPublicKey",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "GetVersion",
    "Enroll",
    "ListKey",
    "DeleteKey",
    "DeleteAllKey",
    "EnableKey",
    "DisableKey",
    "GenerateQuote",
    "VerifyQuote",
    "UploadQuotePolicy",
    "GetQuotePolicy",
    "CreateSecret",
    "UpdateSecretDesc",
    "PutSecretValue",
    "ListSecretVersionIds",
    "ListSecrets",
    "DescribeSecret",
    "DeleteSecret",
    "GetSecretValue",
    "RestoreSecret",
)

# pyehsm's Actions beyond the eHSM REST API (docs/mac-random-batch.md), in the same signed envelope.
EXTENSION_ACTIONS = (
    "BatchEncrypt",
    "BatchDecrypt",
    "BatchGenerateDataKey",
    "GenerateMac",
    "VerifyMac",
    "GenerateRandom",
)


# pyehsm's key metadata Actions (docs/key-metadata.md), beyond the eHSM REST API.
KEY_METADATA_ACTIONS = (
    "DescribeKey",
    "UpdateKeyDescription",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "TagKey",
    "UntagKey",
    "ListKeyTags",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
)
# pyehsm's Actions beyond eHSM's API, in the same signed envelope: key versions (docs/key-rotation.md).
KEY_VERSION_ACTIONS = ("RotateKey", "UpdateKeyRotation", "ListKeyRotations", "UpdateKeyVersionPolicy", "ReEncrypt")

# pyehsm's key encapsulation and key agreement Actions (ML-KEM, ECDH, X25519), beyond the eHSM REST API.
KEY_AGREEMENT_ACTIONS = ("Encapsulate", "Decapsulate", "DeriveSharedSecret")

# pyehsm's attestation-gated key release Actions (docs/key-release.md), beyond the eHSM REST API.
KEY_RELEASE_ACTIONS = (
    "GetAttestationChallenge",
    "PutKeyReleasePolicy",
    "GetKeyReleasePolicy",
    "DeleteKeyReleasePolicy",
    "PutSecretReleasePolicy",
    "GetSecretReleasePolicy",
    "DeleteSecretReleasePolicy",
)

DEFAULT_ASYMMETRIC_PADDING = "EH_RSA_PKCS1_OAEP"
DEFAULT_SIGN_PADDING = "EH_RSA_PKCS1_PSS"
DEFAULT_DIGEST: str | None = None  # None: the keyspec's own (pyehsm: EH_SHA_256, EH_SM3 for SM2)
DEFAULT_MESSAGE_TYPE = "EH_RAW"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One signed request to make: Action, payload (None: no payload field) and result parser."""

    action: str
    payload: dict[str, Any] | None
    parse: Callable[[dict[str, Any]], T]

    @property
    def idempotent(self) -> bool:
        return self.action in IDEMPOTENT_ACTIONS


def _payload(**fields: Any) -> dict[str, Any]:
    """The payload with absent (None) optional fields left out."""
    return {name: value for name, value in fields.items() if value is not None}


def _opt_b64(data: bytes | None) -> str | None:
    return b64(data) if data else None


def _none(_: dict[str, Any]) -> None:
    return None


def _field(name: str) -> Callable[[dict[str, Any]], str]:
    def parse(result: dict[str, Any]) -> str:
        return str(result[name])

    return parse


def _b64_field(name: str) -> Callable[[dict[str, Any]], bytes]:
    def parse(result: dict[str, Any]) -> bytes:
        return unb64(str(result[name]))

    return parse


def _truthy(result: dict[str, Any]) -> bool:
    value = result.get("result")
    return value is True or value in (1, "true", "True")


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


def _policy_text(policy: str | dict[str, Any] | None) -> str | None:
    """A release policy as the wire carries it: JSON text (docs/key-release.md)."""
    if policy is None or isinstance(policy, str):
        return policy
    return json.dumps(policy, separators=(",", ":"))


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


# -- symmetric crypto and data keys -----------------------------------------------------------------
def encrypt(keyid: str, plaintext: bytes, aad: bytes | None = None) -> Call[bytes]:
    return Call("Encrypt", _payload(keyid=keyid, plaintext=b64(plaintext), aad=_opt_b64(aad)), _b64_field("ciphertext"))


def decrypt(keyid: str, ciphertext: bytes, aad: bytes | None = None) -> Call[bytes]:
    return Call(
        "Decrypt", _payload(keyid=keyid, ciphertext=b64(ciphertext), aad=_opt_b64(aad)), _b64_field("plaintext")
    )


def generate_data_key(keyid: str, keylen: int, aad: bytes | None = None) -> Call[DataKey]:
    def parse(result: dict[str, Any]) -> DataKey:
        return DataKey(unb64(str(result["plaintext"])), unb64(str(result["ciphertext"])))

    return Call("GenerateDataKey", _payload(keyid=keyid, keylen=keylen, aad=_opt_b64(aad)), parse)


def generate_data_key_without_plaintext(keyid: str, keylen: int, aad: bytes | None = None) -> Call[bytes]:
    return Call(
        "GenerateDataKeyWithoutPlaintext",
        _payload(keyid=keyid, keylen=keylen, aad=_opt_b64(aad)),
        _b64_field("ciphertext"),
    )


def export_data_key(
    keyid: str, ukeyid: str, olddatakey: bytes, aad: bytes | None = None, padding_mode: str | None = None
) -> Call[bytes]:
    # `olddatakey_base` is the Intel server's name; pyehsm accepts it as well as the other two spellings.
    payload = _payload(
        keyid=keyid, ukeyid=ukeyid, olddatakey_base=b64(olddatakey), aad=_opt_b64(aad), padding_mode=padding_mode
    )
    return Call("ExportDataKey", payload, _b64_field("newdatakey"))


# -- batches ------------------------------------------------------------------------------------------
EncryptItem = tuple[str, bytes] | tuple[str, bytes, bytes | None]  # (keyid, plaintext[, aad])
DecryptItem = tuple[str, bytes] | tuple[str, bytes, bytes | None]  # (keyid, ciphertext[, aad])
DataKeyItem = tuple[str, int] | tuple[str, int, bytes | None]  # (keyid, keylen[, aad])


def _aad_of(item: tuple[Any, ...]) -> str | None:
    return _opt_b64(item[2]) if len(item) > 2 else None


def _batch(parse_one: Callable[[dict[str, Any]], T]) -> Callable[[dict[str, Any]], list[BatchItem[T]]]:
    def parse(result: dict[str, Any]) -> list[BatchItem[T]]:
        return [BatchItem.from_envelope(entry, parse_one) for entry in result.get("items") or ()]

    return parse


def batch_encrypt(items: list[EncryptItem]) -> Call[list[BatchItem[bytes]]]:
    payload = [_payload(keyid=i[0], plaintext=b64(i[1]), aad=_aad_of(i)) for i in items]
    return Call("BatchEncrypt", {"items": payload}, _batch(_b64_field("ciphertext")))


def batch_decrypt(items: list[DecryptItem]) -> Call[list[BatchItem[bytes]]]:
    payload = [_payload(keyid=i[0], ciphertext=b64(i[1]), aad=_aad_of(i)) for i in items]
    return Call("BatchDecrypt", {"items": payload}, _batch(_b64_field("plaintext")))


def batch_generate_data_key(items: list[DataKeyItem]) -> Call[list[BatchItem[DataKey]]]:
    def parse_one(result: dict[str, Any]) -> DataKey:
        return DataKey(unb64(str(result["plaintext"])), unb64(str(result["ciphertext"])))

    payload = [_payload(keyid=i[0], keylen=i[1], aad=_aad_of(i)) for i in items]
    return Call("BatchGenerateDataKey", {"items": payload}, _batch(parse_one))


# -- MACs and randomness ----------------------------------------------------------------------------
DEFAULT_MAC_ALGORITHM = "HMAC_SHA_256"


def generate_mac(keyid: str, message: bytes, mac_algorithm: str = DEFAULT_MAC_ALGORITHM) -> Call[bytes]:
    payload = {"keyid": keyid, "message": b64(message), "macAlgorithm": mac_algorithm}
    return Call("GenerateMac", payload, _b64_field("mac"))


def verify_mac(keyid: str, message: bytes, mac: bytes, mac_algorithm: str = DEFAULT_MAC_ALGORITHM) -> Call[bool]:
    payload = {"keyid": keyid, "message": b64(message), "macAlgorithm": mac_algorithm, "mac": b64(mac)}
    return Call("VerifyMac", payload, _truthy)


def generate_random(number_of_bytes: int) -> Call[bytes]:
    return Call("GenerateRandom", {"numberOfBytes": number_of_bytes}, _b64_field("plaintext"))


# -- key encapsulation (ML-KEM) -----------------------------------------------------------------------
def encapsulate(keyid: str) -> Call[Encapsulation]:
    def parse(result: dict[str, Any]) -> Encapsulation:
        return Encapsulation(unb64(str(result["sharedSecret"])), unb64(str(result["ciphertext"])))

    return Call("Encapsulate", {"keyid": keyid}, parse)


def decapsulate(keyid: str, ciphertext: bytes) -> Call[bytes]:
    return Call("Decapsulate", {"keyid": keyid, "ciphertext": b64(ciphertext)}, _b64_field("sharedSecret"))


def derive_shared_secret(keyid: str, public_key: bytes | str) -> Call[bytes]:
    """``public_key``: the peer's DER SubjectPublicKeyInfo (bytes) or PEM text (str)."""
    peer = public_key if isinstance(public_key, str) else b64(public_key)
    return Call("DeriveSharedSecret", {"keyid": keyid, "publicKey": peer}, _b64_field("sharedSecret"))


# -- asymmetric crypto ------------------------------------------------------------------------------
def asymmetric_encrypt(keyid: str, plaintext: bytes, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING) -> Call[bytes]:
    return Call(
        "AsymmetricEncrypt",
        {"keyid": keyid, "plaintext": b64(plaintext), "padding_mode": padding_mode},
        _b64_field("ciphertext"),
    )


def asymmetric_decrypt(keyid: str, ciphertext: bytes, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING) -> Call[bytes]:
    return Call(
        "AsymmetricDecrypt",
        {"keyid": keyid, "ciphertext": b64(ciphertext), "padding_mode": padding_mode},
        _b64_field("plaintext"),
    )


def _sign_payload(
    keyid: str,
    message: bytes,
    digest_mode: str | None,
    padding_mode: str,
    message_type: str,
    context: bytes | None = None,
) -> dict[str, Any]:
    return _payload(
        keyid=keyid,
        message=b64(message),
        message_type=message_type,
        digest_mode=digest_mode,
        padding_mode=padding_mode,
        context=None if context is None else b64(context),
    )


def sign(
    keyid: str,
    message: bytes,
    digest_mode: str | None = DEFAULT_DIGEST,
    padding_mode: str = DEFAULT_SIGN_PADDING,
    message_type: str = DEFAULT_MESSAGE_TYPE,
    context: bytes | None = None,
) -> Call[bytes]:
    return Call(
        "Sign", _sign_payload(keyid, message, digest_mode, padding_mode, message_type, context), _b64_field("signature")
    )


def verify(
    keyid: str,
    message: bytes,
    signature: bytes,
    digest_mode: str | None = DEFAULT_DIGEST,
    padding_mode: str = DEFAULT_SIGN_PADDING,
    message_type: str = DEFAULT_MESSAGE_TYPE,
    context: bytes | None = None,
) -> Call[bool]:
    payload = _sign_payload(keyid, message, digest_mode, padding_mode, message_type, context)
    payload["signature"] = b64(signature)
    return Call("Verify", payload, _truthy)


# -- BYOK -------------------------------------------------------------------------------------------
def get_parameters_for_import(keyid: str, keyspec: str, new_version: bool = False) -> Call[ImportParameters]:
    payload: dict[str, Any] = {"keyid": keyid, "keyspec": keyspec}
    if new_version:
        payload["newVersion"] = True
    return Call("GetParametersForImport", payload, ImportParameters.from_result)


def import_key_material(
    keyid: str, key_material: bytes, import_token: str, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING
) -> Call[bool]:
    payload = {
        "keyid": keyid,
        "padding_mode": padding_mode,
        "key_material": b64(key_material),
        "importToken": import_token,
    }
    return Call("ImportKeyMaterial", payload, _truthy)


def import_new_key_version(
    keyid: str, key_material: bytes, import_token: str, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING
) -> Call[int]:
    payload = {
        **(import_key_material(keyid, key_material, import_token, padding_mode).payload or {}),
        "newVersion": True,
    }
    return Call("ImportKeyMaterial", payload, lambda r: int(r["version"]))


# -- remote attestation -----------------------------------------------------------------------------
def generate_quote(challenge: bytes) -> Call[Quote]:
    return Call("GenerateQuote", {"challenge": b64(challenge)}, Quote.from_result)


def verify_quote(quote: bytes, nonce: bytes, apikey: str, policy_id: str | None = None) -> Call[QuoteVerification]:
    """The answer's ``sign`` is checked with ``apikey`` and its ``nonce`` must echo ours."""
    sent_nonce = b64(nonce)

    def parse(result: dict[str, Any]) -> QuoteVerification:
        fields: Mapping[str, Any] = {k: v for k, v in result.items() if k != "sign"}
        sign_value = result.get("sign")
        if not isinstance(sign_value, str) or not signature_matches(apikey, fields, sign_value):
            raise ResponseSignatureError(200, "VerifyQuote answer is not signed with this app's apikey")
        if result.get("nonce") != sent_nonce:
            raise ResponseSignatureError(200, "VerifyQuote answer does not echo the nonce sent")
        return QuoteVerification.from_result(result)

    return Call("VerifyQuote", _payload(quote=b64(quote), nonce=sent_nonce, policyId=policy_id), parse)


def upload_quote_policy(mr_enclave: str, mr_signer: str) -> Call[str]:
    return Call("UploadQuotePolicy", {"mr_enclave": mr_enclave, "mr_signer": mr_signer}, _field("policyId"))


def get_quote_policy(policy_id: str) -> Call[QuotePolicy]:
    return Call("GetQuotePolicy", {"policyId": policy_id}, QuotePolicy.from_result)


# -- secrets ----------------------------------------------------------------------------------------
def create_secret(
    secret_name: str,
    secret_data: str,
    encryption_key_id: str | None = None,
    description: str | None = None,
    rotation_interval: str | None = None,
    release_policy: str | dict[str, Any] | None = None,
) -> Call[None]:
    payload = _payload(
        secretName=secret_name,
        secretData=secret_data,
        encryptionKeyId=encryption_key_id,
        description=description,
        rotationInterval=rotation_interval,
        releasePolicy=_policy_text(release_policy),
    )
    return Call("CreateSecret", payload, _none)


def update_secret_desc(secret_name: str, description: str | None = None) -> Call[None]:
    return Call("UpdateSecretDesc", _payload(secretName=secret_name, description=description), _none)


def put_secret_value(secret_name: str, secret_data: str) -> Call[None]:
    return Call("PutSecretValue", {"secretName": secret_name, "secretData": secret_data}, _none)


def list_secret_version_ids(secret_name: str) -> Call[SecretVersions]:
    return Call("ListSecretVersionIds", {"secretName": secret_name}, SecretVersions.from_result)


def list_secrets(secret_name: str | None = None) -> Call[SecretList]:
    return Call("ListSecrets", _payload(secretName=secret_name), SecretList.from_result)


def describe_secret(secret_name: str) -> Call[SecretDescription]:
    return Call("DescribeSecret", {"secretName": secret_name}, SecretDescription.from_result)


def delete_secret(secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None) -> Call[None]:
    force = None if force_delete is None else ("true" if force_delete else "false")
    payload = _payload(secretName=secret_name, recoveryPeriod=recovery_period, forceDelete=force)
    return Call("DeleteSecret", payload, _none)


def get_secret_value(secret_name: str, version_id: int | None = None) -> Call[SecretValue]:
    return Call("GetSecretValue", _payload(secretName=secret_name, versionId=version_id), SecretValue.from_result)


def restore_secret(secret_name: str) -> Call[None]:
    return Call("RestoreSecret", {"secretName": secret_name}, _none)
