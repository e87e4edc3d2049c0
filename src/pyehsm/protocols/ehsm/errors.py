"""eHSM's error answers: the envelope's own errors, and THE table from domain errors to code + message.

Every domain error type (pyehsm.errors) has one row in ``_TABLE``; its message is the exact text eHSM's
clients see (docs/protocol.md sections 1 and 4): Intel's SDKs and the wire tests depend on it byte for
byte. Messages name fields, keyspecs, modes and limits, never key material, plaintext or apikeys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyehsm import errors as d

INTERNAL_ERROR_MESSAGE = "Server internal error, please contact the administrator."


class EhsmError(Exception):
    """An error answered in the eHSM response envelope: ``code`` and ``message`` as sent."""

    code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParamError(EhsmError):
    """A request or payload field is missing, of the wrong type, too long or malformed."""


class AuthError(EhsmError):
    """Unknown appid, bad signature, stale timestamp or replayed request."""


class NotFoundError(EhsmError):
    """The named object does not exist for the calling app."""


class ApiNotFound(EhsmError):
    """Unknown Action."""

    code = 404

    def __init__(self, message: str = "API Not Found") -> None:
        super().__init__(message)


class InternalError(EhsmError):
    """A server-side failure; the wire never shows details."""

    code = 500

    def __init__(self, message: str = INTERNAL_ERROR_MESSAGE) -> None:
        super().__init__(message)


# -- message texts that tests and handlers name ---------------------------------------------------------
KEYID_ERROR = "keyid error"
KEY_DISABLED = "keyid is disabled"
KEY_PENDING_DELETION = "keyid is pending deletion: cancel the deletion (CancelKeyDeletion) to use it again"
ALIAS_NOT_FOUND = "alias error"
BAD_BLOB = "Parameter invalid, The ciphertext is not a pyehsm ciphertext."
DECRYPT_FAILED = "Decrypt failed: the ciphertext was not made with this key, was modified, or the aad does not match."
ASYMMETRIC_DECRYPT_FAILED = (
    "Decrypt failed: the ciphertext was not made with this key's public key, or it was modified."
)
TOKEN_EXPIRED = 'Token validity time is 24 hours. Try to send "GetParametersForImport" request again.'
TOKEN_INVALID = "Parameter invalid, The importToken is not valid for this key."
TOKEN_MISSING = "Missing required parameters, The importToken cannot be empty."
TOKEN_REPLACED = (
    "Parameter invalid, The importToken was replaced by a newer GetParametersForImport request: use the newest one."
)
TOKEN_GONE = (
    "Parameter invalid, The importToken can no longer be used (its import parameters were deleted after too many "
    'failed imports): send "GetParametersForImport" request again.'
)
NOT_EXTERNAL = "The key was not created with origin EH_EXTERNAL_KEY: key material can not be imported into it."
ALREADY_IMPORTED = "The key material of this key has already been imported and can not be replaced."
UNWRAP_FAILED = (
    "Decrypt failed: the key_material was not encrypted under this importToken's public key with this "
    "padding_mode, or it was modified."
)
SECRET_NOT_FOUND = "Can not find secretName"
DUPLICATE_NAME = "Secret name already exists, cannot use the same secret name"
ROTATION_FORMAT = "Parameter invalid, The rotationInterval format wrong."
ROTATION_RANGE = "The rotation time is less than 6 hours or more than 8760 hours"
FORCE_DELETE_VALUE = "The forceDelete must be true or false"
FORCE_DELETE_CONFLICT = "Parameter invalid, The forceDelete and force_delete disagree."
PUT_DELETED = "Can not put value for a deleted secret."
MODIFY_DELETED = "Can not modify a deleted secret."
GET_DELETED = "Can not get value for a deleted secret."
UNKNOWN_VERSION = "Can not find the versionId of the secret."
KEY_GONE = "The encryption key of the secret no longer exists; its values cannot be read."
KEY_UNUSABLE = "The encryption key of the secret cannot be used: "
BUSY = "The secret was changed by another request at the same time; send the request again."
INVALID_POLICY_ID = "Invalid policyId."
NO_QUOTE_PROVIDER = (
    "GenerateQuote is unavailable: this server has no quote provider (it does not run in a TEE with "
    "configfs-tsm or Gramine, or it was started with --quote-provider none)."
)
RATE_LIMITED = "Too many requests, rate limit exceeded."
AUDIT_UNAVAILABLE = "Audit log unavailable"
NOT_ROTATABLE = (
    "The keyspec {keyspec} cannot be rotated: only symmetric encryption keys (AES-GCM, SM4) have key versions."
)
EXTERNAL_NOT_ROTATABLE = (
    "A key with origin EH_EXTERNAL_KEY is rotated by importing new key material into a new version: "
    'send "GetParametersForImport" and "ImportKeyMaterial" with newVersion true.'
)
MATERIAL_NOT_SAME = (
    "Parameter invalid, The key_material is not the key material this key had: "
    "a key whose material was deleted or expired takes back only the same material."
)
MATERIAL_NOT_NEW = "Parameter invalid, The key_material is already the material of one of this key's versions."
VERSION_PENDING = (
    'The key already has new imported key material waiting to become its primary version: send "RotateKey" first.'
)
VERSION_RETIRED = "The key version of this ciphertext is below the key's minimum decryption version."
DESTINATION_UNUSABLE = "The destinationKeyId cannot be used: "

_DELETED = {"put": PUT_DELETED, "modify": MODIFY_DELETED, "get": GET_DELETED}
_ENROLL_REFUSED = {
    "bad_token": "Enroll refused: the admin token is not valid.",
    "token_required": "Enroll refused: this server requires an admin token (X-Pyehsm-Admin-Token).",
    "closed": "Enroll refused: enrollment is closed on this server; ask its operator.",
}
_PADDING_USE = {
    "encryption": "be used for RSA encryption",
    "signature": "be used for RSA signatures",
    "import": "be used to import key material under an RSA wrapping key",
}


def _or(values: tuple[str, ...]) -> str:
    return " or ".join(values)


def _out_of_range(e: d.OutOfRange) -> str:
    if e.field == "rotationInterval":
        return ROTATION_RANGE
    return f"Parameter invalid, The {e.field} must be between {e.low} and {e.high}."


def _malformed(e: d.MalformedParameter) -> str:
    if e.detail is not None:
        return f"Parameter invalid, The {e.field} format wrong: {e.detail}."
    return f"Parameter invalid, The {e.field} format wrong."


def _padding(e: d.PaddingNotAllowed) -> str:
    allowed = ", ".join(e.allowed) if e.use == "import" else _or(e.allowed)
    return f"Parameter invalid, The padding_mode {e.padding} cannot {_PADDING_USE[e.use]} (use {allowed})."


def _secret_key_unusable(e: d.SecretKeyUnusable) -> str:
    return KEY_UNUSABLE + answer(e.cause)[1]


def _not_rotatable(e: d.KeyNotRotatable) -> str:
    return EXTERNAL_NOT_ROTATABLE if e.reason == "external" else NOT_ROTATABLE.format(keyspec=e.keyspec)


# THE table: domain error type -> its eHSM message (code 400 unless _CODES says otherwise).
_TABLE: dict[type[d.DomainError], Callable[[Any], str]] = {
    # request parameters
    d.MissingParameter: lambda e: f"Missing required parameters, The {e.field} cannot be empty.",
    d.MalformedParameter: _malformed,
    d.NotABoolean: lambda e: f"The {e.field} must be true or false",
    d.ParametersDisagree: lambda e: f"Parameter invalid, The {e.field} and {e.other} disagree.",
    d.OutOfRange: _out_of_range,
    d.LimitExceeded: lambda e: (
        f"Parameter invalid, The {e.field} length error: {e.scheme} encrypts at most {e.limit} bytes."
    ),
    d.TooManyItems: lambda e: f"Parameter invalid, The {e.field} can hold at most {e.limit} items.",
    d.QuotePolicyMixesTees: lambda _: (
        "Parameter invalid, A quote policy names either mr_enclave and mr_signer (SGX) "
        "or mr_td and rtmr0..rtmr3 (TDX), not both."
    ),
    # what a keyspec cannot take
    d.UsageNotSupported: lambda e: (
        f"Parameter invalid, The keyusage {e.usage} is not supported for keyspec {e.keyspec} (use {_or(e.allowed)})."
    ),
    d.DigestNotAllowed: lambda e: (
        f"Parameter invalid, The digest_mode {e.digest} cannot be used with {e.family} keys (use {_or(e.allowed)})."
    ),
    d.DigestLengthWrong: lambda e: (
        f"Parameter invalid, The message length error: an EH_DIGEST message for {e.digest} must be {e.size} bytes."
    ),
    d.MessageTypeNotAllowed: lambda e: (
        f"Parameter invalid, The message_type {e.message_type} cannot be used with {e.family} keys (send EH_RAW)."
    ),
    d.MessageLengthWrong: lambda e: (
        f"Parameter invalid, The message length error: an {e.message_type} message must be {e.size} bytes."
    ),
    d.ContextNotAllowed: lambda e: (
        f"Parameter invalid, The context cannot be used with {e.family} keys (only ML-DSA keys take a context)."
    ),
    d.ExternalMuContext: lambda _: (
        "Parameter invalid, The context cannot be used with message_type EH_EXTERNAL_MU "
        "(the mu already binds the context it was computed with)."
    ),
    d.PaddingNotAllowed: _padding,
    d.CannotEncrypt: lambda e: f"Parameter invalid, {e.family} keys cannot encrypt or decrypt.",
    d.CannotSign: lambda e: f"Parameter invalid, {e.family} keys cannot sign or verify.",
    d.NoPublicKey: lambda e: f"Parameter invalid, {e.family} keys have no public key.",
    # keys
    d.KeyNotFound: lambda _: KEYID_ERROR,
    d.KeyVersionNotFound: lambda _: "The key version named by the ciphertext does not exist.",
    d.KeyDisabled: lambda _: KEY_DISABLED,
    d.KeyMaterialNotImported: lambda _: "The key material has not been imported yet.",
    d.KeyAwaitingMaterial: lambda _: "The key is waiting for its key material; import it first.",
    d.KeyPendingDeletion: lambda _: KEY_PENDING_DELETION,
    d.KeyNotPendingDeletion: lambda _: "The key is not pending deletion.",
    d.AliasNotFound: lambda _: ALIAS_NOT_FOUND,
    d.AliasExists: lambda _: "Alias already exists, cannot use the same alias",
    d.AliasInvalid: lambda e: (
        "Parameter invalid, The alias names are reserved: alias/aws/ is reserved for AWS managed keys."
        if e.reserved
        else "Parameter invalid, The alias must be alias/ followed by letters, digits, '/', '_' or '-' "
        "(at most 256 characters)."
    ),
    d.AliasTargetMismatch: lambda _: (
        "Parameter invalid, The keyid must name a key of the same kind as the alias's current key "
        "(both symmetric or both asymmetric, with the same keyusage)."
    ),
    d.TooManyTags: lambda e: f"Parameter invalid, A key can have at most {e.limit} tags.",
    d.InvalidMarker: lambda e: f"Parameter invalid, The {e.field} is not a marker this listing returned.",
    d.KeyPolicyMalformed: lambda e: (
        f"Parameter invalid, The policy must be a JSON object of at most {e.limit} characters ({e.reason})."
    ),
    d.OperationNotSupported: lambda e: f"The keyspec {e.keyspec} does not support {e.operation}.",
    d.UsageNotAllowed: lambda e: f"The keyusage {e.usage} of this key does not allow {e.operation}.",
    d.KeyNotRotatable: _not_rotatable,
    d.KeyVersionRetired: lambda _: VERSION_RETIRED,
    d.DestinationKeyUnusable: lambda e: DESTINATION_UNUSABLE + answer(e.cause)[1],
    # ciphertexts
    d.InvalidCiphertext: lambda _: BAD_BLOB,
    d.CiphertextKeyMismatch: lambda _: DECRYPT_FAILED,  # a keyed blob naming another key: as any other key
    d.DecryptionFailed: lambda e: DECRYPT_FAILED if e.scheme == "symmetric" else ASYMMETRIC_DECRYPT_FAILED,
    # key import
    d.ImportTokenInvalid: lambda _: TOKEN_INVALID,
    d.ImportTokenExpired: lambda _: TOKEN_EXPIRED,
    d.ImportTokenReplaced: lambda _: TOKEN_REPLACED,
    d.ImportTokenSpent: lambda _: TOKEN_GONE,
    d.KeyNotExternal: lambda _: NOT_EXTERNAL,
    d.KeyMaterialAlreadyImported: lambda _: ALREADY_IMPORTED,
    d.ImportedMaterialMismatch: lambda e: MATERIAL_NOT_SAME if e.reason == "not_same" else MATERIAL_NOT_NEW,
    d.ImportedVersionPending: lambda _: VERSION_PENDING,
    d.NotAWrappingKey: lambda e: f"Parameter invalid, {e.keyspec} cannot be a wrapping key.",
    d.ImportUnwrapFailed: lambda _: UNWRAP_FAILED,
    d.MaterialLengthWrong: lambda e: (
        f"Parameter invalid, The key_material length error: {e.keyspec} key material must be {e.sizes}."
    ),
    d.MaterialMalformed: lambda e: (
        f"Parameter invalid, The key_material format wrong: {e.keyspec} key material must be {e.rule}."
    ),
    d.MaterialNotImportable: lambda e: f"Parameter invalid, {e.keyspec} key material cannot be imported.",
    # secrets
    d.SecretNotFound: lambda _: SECRET_NOT_FOUND,
    d.SecretVersionNotFound: lambda _: UNKNOWN_VERSION,
    d.SecretNameTaken: lambda _: DUPLICATE_NAME,
    d.SecretDeleted: lambda e: _DELETED[e.change],
    d.SecretBusy: lambda _: BUSY,
    d.SecretKeyGone: lambda _: KEY_GONE,
    d.SecretKeyUnusable: _secret_key_unusable,
    # attestation
    d.QuoteProviderMissing: lambda _: NO_QUOTE_PROVIDER,
    d.QuotePolicyNotFound: lambda _: INVALID_POLICY_ID,
    # key release (docs/key-release.md)
    d.ReleasePolicyInvalid: lambda e: f"Parameter invalid, The releasePolicy format wrong: {e.detail}.",
    d.ReleaseAttestationRequired: lambda e: (
        f"The {e.subject} has a release policy: this request must carry an attestation bundle "
        "(GetAttestationChallenge, then a quote over it; docs/key-release.md)."
    ),
    d.ReleasePolicyNotMet: lambda e: f"Release refused: the attestation does not satisfy release policy {e.policy_id}.",
    d.AttestationNonceInvalid: lambda _: (
        "Release refused: the attestation nonce is unknown, expired or already used; get a new challenge."
    ),
    d.AttestationRejected: lambda e: f"Release refused: the attestation is not valid: {e.reason}.",
    d.TooManyChallenges: lambda e: (
        f"Too many unused attestation challenges: an app may hold at most {e.limit}; use or let them expire."
    ),
    # apps and limits
    d.EnrollRefused: lambda e: _ENROLL_REFUSED[e.reason],
    d.RateLimited: lambda _: RATE_LIMITED,
    # server faults
    d.InternalFailure: lambda _: INTERNAL_ERROR_MESSAGE,
    d.AuditUnavailable: lambda _: AUDIT_UNAVAILABLE,
}
_CODES: dict[type[d.DomainError], int] = {d.InternalFailure: 500, d.AuditUnavailable: 500}


def row_of(kind: type[d.DomainError]) -> type[d.DomainError] | None:
    """The table row that answers ``kind``: its own, or its nearest base's (a subclass of a mapped type)."""
    for base in kind.__mro__:
        if base in _TABLE:
            return base
    return None


def answer(exc: d.DomainError) -> tuple[int, str]:
    """The eHSM (code, message) of a domain error."""
    kind = type(exc)
    render = _TABLE.get(kind)
    if render is None:
        row = row_of(kind)
        if row is None:  # a domain error without a row: answered as a server fault, never as its text
            return 500, INTERNAL_ERROR_MESSAGE
        kind, render = row, _TABLE[row]
    return _CODES.get(kind, 400), render(exc)


def to_ehsm(exc: d.DomainError) -> EhsmError:
    """The domain error as the envelope error eHSM answers (for callers that raise it on)."""
    code, message = answer(exc)
    err = EhsmError(message)
    err.code = code
    return err
