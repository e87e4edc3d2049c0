"""The AWS KMS door's error answers: its own refusals, and THE table from domain errors to an AWS
exception name (``__type``), an HTTP status and a message.

Every domain error type (pyehsm.errors) has one row in ``_TABLE`` (tests/unit/test_awskms_errors.py).
Names follow AWS KMS's documented exceptions, so boto3 raises the same ``client.exceptions.<Name>`` it
raises against AWS. Messages name fields and algorithms, never key material, plaintext or apikeys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyehsm import errors as d

INTERNAL_MESSAGE = "The request failed because of an internal error; please contact the administrator."


class AwsError(Exception):
    """An error answered as ``{"__type": name, "message": message}`` with HTTP ``status``."""

    def __init__(self, name: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.name, self.message, self.status = name, message, status


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def missing(field: str) -> AwsError:
    """AWS's wording for a required member that is absent."""
    return validation(
        f"1 validation error detected: Value null at '{field[0].lower()}{field[1:]}' failed to satisfy "
        "constraint: Member must not be null"
    )


def unsupported(message: str) -> AwsError:
    return AwsError("UnsupportedOperationException", message)


_Row = tuple[str, Callable[[Any], str]]

_INVALID_CIPHERTEXT = (
    "The ciphertext is not valid for this key, was modified, or the encryption context does not match."
)

# THE table: domain error type -> (AWS exception name, message); HTTP 400 unless _STATUS says otherwise.
_TABLE: dict[type[d.DomainError], _Row] = {
    # request parameters
    d.MissingParameter: ("ValidationException", lambda e: f"{e.field} is required."),
    d.MalformedParameter: ("ValidationException", lambda e: f"{e.field} is not valid."),
    d.NotABoolean: ("ValidationException", lambda e: f"{e.field} must be true or false."),
    d.ParametersDisagree: ("ValidationException", lambda e: f"{e.field} and {e.other} disagree."),
    d.OutOfRange: ("ValidationException", lambda e: f"{e.field} must be between {e.low} and {e.high}."),
    d.LimitExceeded: (
        "ValidationException",
        lambda e: f"{e.field} is too long: {e.scheme} encrypts at most {e.limit} bytes.",
    ),
    d.QuotePolicyMixesTees: ("ValidationException", lambda _: "A quote policy names either SGX or TDX values."),
    # what a key spec cannot take
    d.UsageNotSupported: ("ValidationException", lambda e: f"The KeyUsage is not valid for the key spec {e.keyspec}."),
    d.DigestNotAllowed: ("InvalidKeyUsageException", lambda e: f"The digest {e.digest} cannot be used with this key."),
    d.DigestLengthWrong: (
        "ValidationException",
        lambda e: f"A DIGEST message for {e.digest} must be {e.size} bytes long.",
    ),
    d.MessageTypeNotAllowed: ("ValidationException", lambda _: "This key signs RAW messages only."),
    d.MessageLengthWrong: (
        "ValidationException",
        lambda e: f"An {e.message_type} message must be {e.size} bytes long.",
    ),
    d.ContextNotAllowed: ("ValidationException", lambda _: "Only ML-DSA keys take a signing context."),
    d.ExternalMuContext: ("ValidationException", lambda _: "An EXTERNAL_MU message takes no signing context."),
    d.PaddingNotAllowed: ("InvalidKeyUsageException", lambda _: "The algorithm is not valid for this key."),
    d.CannotEncrypt: ("InvalidKeyUsageException", lambda _: "This key cannot encrypt or decrypt."),
    d.CannotSign: ("InvalidKeyUsageException", lambda _: "This key cannot sign or verify."),
    d.NoPublicKey: ("UnsupportedOperationException", lambda _: "This key has no public key."),
    # keys
    d.KeyNotFound: ("NotFoundException", lambda e: f"Key '{e.keyid}' does not exist"),
    d.KeyVersionNotFound: ("InvalidCiphertextException", lambda _: _INVALID_CIPHERTEXT),
    d.KeyDisabled: ("DisabledException", lambda e: f"Key '{e.keyid}' is disabled."),
    d.KeyMaterialNotImported: ("KMSInvalidStateException", lambda e: f"Key '{e.keyid}' is pending import."),
    d.KeyAwaitingMaterial: ("KMSInvalidStateException", lambda e: f"Key '{e.keyid}' is pending import."),
    d.OperationNotSupported: ("InvalidKeyUsageException", lambda e: f"{e.operation} is not valid for this key."),
    d.UsageNotAllowed: ("InvalidKeyUsageException", lambda e: f"The key's KeyUsage does not allow {e.operation}."),
    # key metadata: aliases, tags, scheduled deletion, listings
    d.KeyPendingDeletion: ("KMSInvalidStateException", lambda e: f"Key '{e.keyid}' is pending deletion."),
    d.KeyNotPendingDeletion: ("KMSInvalidStateException", lambda e: f"Key '{e.keyid}' is not pending deletion."),
    d.AliasNotFound: ("NotFoundException", lambda e: f"Alias '{e.alias}' is not found."),
    d.AliasExists: ("AlreadyExistsException", lambda e: f"An alias with the name '{e.alias}' already exists."),
    d.AliasInvalid: (
        "InvalidAliasNameException",
        lambda e: (
            "Alias names that begin with alias/aws/ are reserved."
            if e.reserved
            else "An alias must be alias/ followed by letters, digits, '/', '_' or '-' (at most 256 characters)."
        ),
    ),
    d.AliasTargetMismatch: (
        "ValidationException",
        lambda _: "The new key must be of the same type and KeyUsage as the alias's current key.",
    ),
    d.TooManyTags: ("TagException", lambda e: f"A key can have at most {e.limit} tags."),
    d.InvalidMarker: ("InvalidMarkerException", lambda _: "The marker is not one this listing returned."),
    d.KeyPolicyMalformed: (
        "MalformedPolicyDocumentException",
        lambda e: f"The policy must be a JSON object of at most {e.limit} characters ({e.reason}).",
    ),
    # key versions: rotation, minimum decryption version, ReEncrypt
    d.KeyNotRotatable: (
        "UnsupportedOperationException",
        lambda e: (
            "To rotate a key with imported key material, import new key material with ImportType "
            "NEW_KEY_MATERIAL, then call RotateKeyOnDemand."
            if e.reason == "external"
            else "Only symmetric encryption keys can be rotated."
        ),
    ),
    d.KeyVersionRetired: (
        "InvalidCiphertextException",
        lambda _: "The ciphertext's key version is below the key's minimum decryption version.",
    ),
    d.DestinationKeyUnusable: ("ValidationException", lambda _: "The DestinationKeyId cannot be used."),
    # ciphertexts
    d.InvalidCiphertext: ("InvalidCiphertextException", lambda _: "The ciphertext is not a pyehsm ciphertext."),
    d.CiphertextKeyMismatch: (
        "IncorrectKeyException",
        lambda _: "The key ID in the request does not identify the key that encrypted the ciphertext.",
    ),
    d.DecryptionFailed: ("InvalidCiphertextException", lambda _: _INVALID_CIPHERTEXT),
    # key import
    d.ImportTokenInvalid: ("InvalidImportTokenException", lambda _: "The import token is not valid for this key."),
    d.ImportTokenExpired: ("ExpiredImportTokenException", lambda _: "The import token has expired."),
    d.ImportTokenReplaced: (
        "InvalidImportTokenException",
        lambda _: "The import token was replaced by a newer GetParametersForImport request.",
    ),
    d.ImportTokenSpent: ("InvalidImportTokenException", lambda _: "The import token can no longer be used."),
    d.KeyNotExternal: ("UnsupportedOperationException", lambda _: "The key's Origin is not EXTERNAL."),
    d.KeyMaterialAlreadyImported: (
        "IncorrectKeyMaterialException",
        lambda _: "The key material of this key has already been imported.",
    ),
    d.ImportedMaterialMismatch: (
        "IncorrectKeyMaterialException",
        lambda e: (
            "The key material is not the key material previously imported into this key."
            if e.reason == "not_same"
            else "NEW_KEY_MATERIAL must differ from every key material of this key."
        ),
    ),
    d.ImportedVersionPending: (
        "KMSInvalidStateException",
        lambda _: "The key has new key material pending rotation: call RotateKeyOnDemand first.",
    ),
    d.NotAWrappingKey: ("ValidationException", lambda e: f"{e.keyspec} cannot be a wrapping key."),
    d.ImportUnwrapFailed: (
        "InvalidCiphertextException",
        lambda _: "The encrypted key material does not decrypt under the import token's wrapping key.",
    ),
    d.MaterialLengthWrong: ("IncorrectKeyMaterialException", lambda e: f"Key material must be {e.sizes}."),
    d.MaterialMalformed: ("IncorrectKeyMaterialException", lambda e: f"Key material must be {e.rule}."),
    d.MaterialNotImportable: ("IncorrectKeyMaterialException", lambda e: f"{e.keyspec} material cannot be imported."),
    # secrets (not reachable through this door; mapped for completeness)
    d.SecretNotFound: ("NotFoundException", lambda _: "The secret does not exist."),
    d.SecretVersionNotFound: ("NotFoundException", lambda _: "The secret version does not exist."),
    d.SecretNameTaken: ("AlreadyExistsException", lambda _: "A secret with this name already exists."),
    d.SecretDeleted: ("KMSInvalidStateException", lambda _: "The secret is deleted."),
    d.SecretBusy: ("KMSInvalidStateException", lambda _: "The secret was changed by another request."),
    d.SecretKeyGone: ("NotFoundException", lambda _: "The secret's key no longer exists."),
    d.SecretKeyUnusable: ("KMSInvalidStateException", lambda _: "The secret's key cannot be used."),
    # attestation
    d.QuoteProviderMissing: ("UnsupportedOperationException", lambda _: "This server has no quote provider."),
    d.QuotePolicyNotFound: ("NotFoundException", lambda _: "The quote policy does not exist."),
    # key release (docs/key-release.md): the AWS door carries no attestation bundle, so a gated key or
    # secret is refused here whatever the request holds
    d.ReleasePolicyInvalid: ("ValidationException", lambda e: f"The release policy is not valid: {e.detail}."),
    d.ReleaseAttestationRequired: (
        "AccessDeniedException",
        lambda e: f"The {e.subject} has a release policy: use the eHSM door with an attestation bundle.",
    ),
    d.ReleasePolicyNotMet: (
        "AccessDeniedException",
        lambda e: f"The attestation does not satisfy release policy {e.policy_id}.",
    ),
    d.AttestationNonceInvalid: ("AccessDeniedException", lambda _: "The attestation nonce is not valid."),
    d.AttestationRejected: ("AccessDeniedException", lambda e: f"The attestation is not valid: {e.reason}."),
    d.TooManyChallenges: ("LimitExceededException", lambda e: f"At most {e.limit} unused challenges per app."),
    # apps and limits
    d.EnrollRefused: ("AccessDeniedException", lambda _: "Enrollment refused."),
    d.RateLimited: ("ThrottlingException", lambda _: "Rate exceeded"),
    d.TooManyItems: ("ValidationException", lambda e: f"{e.field} can hold at most {e.limit} items."),
    # server faults
    d.InternalFailure: ("KMSInternalException", lambda _: INTERNAL_MESSAGE),
    d.AuditUnavailable: ("KMSInternalException", lambda _: "The audit log is unavailable; the request was refused."),
}
_STATUS: dict[type[d.DomainError], int] = {d.InternalFailure: 500, d.AuditUnavailable: 500}


def row_of(kind: type[d.DomainError]) -> type[d.DomainError] | None:
    """The row that answers ``kind``: its own, or its nearest mapped base's."""
    for base in kind.__mro__:
        if base in _TABLE:
            return base
    return None


def to_aws(exc: d.DomainError) -> AwsError:
    """The domain error as this door answers it (a type without a row: a server fault, never its text)."""
    if isinstance(exc, d.DestinationKeyUnusable):  # ReEncrypt: the destination key's own refusal, named as such
        cause = to_aws(exc.cause)
        return AwsError(cause.name, f"DestinationKeyId: {cause.message}", cause.status)
    row = row_of(type(exc))
    if row is None:
        return AwsError("KMSInternalException", INTERNAL_MESSAGE, 500)
    name, render = _TABLE[row]
    return AwsError(name, render(exc), _STATUS.get(row, 400))
