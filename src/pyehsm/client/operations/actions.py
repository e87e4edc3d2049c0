"""Which eHSM Actions exist (by area) and which the client may re-send after a failure."""

from __future__ import annotations

from typing import TypeVar

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
        "BatchDecapsulate",
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
    "BatchDecapsulate",
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
