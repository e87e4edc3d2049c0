"""The domain's errors: what services, crypto, keyring and store raise when they refuse a request.

Each type names one refusal and carries its facts as fields; none carries wire text. Every protocol
adapter maps each type to its own answer in one table (eHSM: ``protocols/ehsm/errors.py``). Fields
name parameters, keyspecs, modes, limits and ids, never key material, plaintext or apikeys.
"""

from __future__ import annotations

from typing import Literal


class DomainError(Exception):
    """Base of every refusal a protocol answers in its own form (never a stack trace)."""

    def __init__(self, *facts: object) -> None:
        super().__init__(*facts)

    def __str__(self) -> str:
        return f"{type(self).__name__}{self.args!r}"


# -- request parameters ------------------------------------------------------------------------------


class MissingParameter(DomainError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class MalformedParameter(DomainError):
    """``field`` is not in its format; ``detail`` (optional) says how, in the parser's words, without data."""

    def __init__(self, field: str, detail: str | None = None) -> None:
        super().__init__(field, detail)
        self.field, self.detail = field, detail


class NotABoolean(DomainError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class ParametersDisagree(DomainError):
    """Two spellings of one parameter were sent with different values."""

    def __init__(self, field: str, other: str) -> None:
        super().__init__(field, other)
        self.field, self.other = field, other


class OutOfRange(DomainError):
    """``field`` is outside [low, high] (in the field's own unit)."""

    def __init__(self, field: str, low: int, high: int) -> None:
        super().__init__(field, low, high)
        self.field, self.low, self.high = field, low, high


class LimitExceeded(DomainError):
    """``field`` is longer than ``limit`` bytes allow under ``scheme``."""

    def __init__(self, field: str, limit: int, scheme: str) -> None:
        super().__init__(field, limit, scheme)
        self.field, self.limit, self.scheme = field, limit, scheme


class TooManyItems(DomainError):
    """A batch request holds more than ``limit`` items in ``field``."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field, limit)
        self.field, self.limit = field, limit


class QuotePolicyMixesTees(DomainError):
    """A quote policy names SGX measurements and TDX ones together."""


# -- keys: parameters a keyspec cannot take --------------------------------------------------------------


class UsageNotSupported(DomainError):
    """The keyspec cannot have this keyusage (at CreateKey)."""

    def __init__(self, keyspec: str, usage: str, allowed: tuple[str, ...]) -> None:
        super().__init__(keyspec, usage, allowed)
        self.keyspec, self.usage, self.allowed = keyspec, usage, allowed


class DigestNotAllowed(DomainError):
    def __init__(self, digest: str, family: str, allowed: tuple[str, ...]) -> None:
        super().__init__(digest, family, allowed)
        self.digest, self.family, self.allowed = digest, family, allowed


class DigestLengthWrong(DomainError):
    """A prehashed (EH_DIGEST) message is not ``size`` bytes long."""

    def __init__(self, digest: str, size: int) -> None:
        super().__init__(digest, size)
        self.digest, self.size = digest, size


class MessageTypeNotAllowed(DomainError):
    def __init__(self, message_type: str, family: str) -> None:
        super().__init__(message_type, family)
        self.message_type, self.family = message_type, family


class MessageLengthWrong(DomainError):
    """A message of ``message_type`` (EH_EXTERNAL_MU: a 64-byte mu) is not ``size`` bytes long."""

    def __init__(self, message_type: str, size: int) -> None:
        super().__init__(message_type, size)
        self.message_type, self.size = message_type, size


class ContextNotAllowed(DomainError):
    """A signing context string was sent for a family that takes none (only ML-DSA does)."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


PaddingUse = Literal["encryption", "signature", "import"]


class ExternalMuContext(DomainError):
    """A context string was sent with an external mu (EH_EXTERNAL_MU): the mu was computed with its context
    already (FIPS 204 Algorithm 7 line 6), so a context here would be silently ignored; refused instead."""


class PaddingNotAllowed(DomainError):
    def __init__(self, padding: str, use: PaddingUse, allowed: tuple[str, ...]) -> None:
        super().__init__(padding, use, allowed)
        self.padding, self.use, self.allowed = padding, use, allowed


class CannotEncrypt(DomainError):
    """Keys of this family neither encrypt nor decrypt."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


class CannotSign(DomainError):
    """Keys of this family neither sign nor verify (ML-KEM)."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


class NoPublicKey(DomainError):
    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


# -- keys: existence and state -----------------------------------------------------------------------------


class KeyNotFound(DomainError):
    """No such key for the calling app (another app's key looks the same)."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyVersionNotFound(DomainError):
    def __init__(self, keyid: str, version: int) -> None:
        super().__init__(keyid, version)
        self.keyid, self.version = keyid, version


class KeyDisabled(DomainError):
    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyMaterialNotImported(DomainError):
    """The key (origin EH_EXTERNAL_KEY) cannot be used before its material is imported."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyAwaitingMaterial(DomainError):
    """The key's state cannot change (enable, disable) before its material is imported."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyPendingDeletion(DomainError):
    """The key is scheduled for deletion (ScheduleKeyDeletion): every operation but DescribeKey, ListKey,
    CancelKeyDeletion, DeleteKey and the metadata Actions is refused until the deletion is cancelled."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyNotPendingDeletion(DomainError):
    """CancelKeyDeletion on a key that is not scheduled for deletion."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class AliasNotFound(DomainError):
    """No such alias for the calling app (another app's alias looks the same)."""

    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


class AliasExists(DomainError):
    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


class AliasInvalid(DomainError):
    """The alias name breaks the naming rules (``alias/`` + letters, digits, ``/_-``; not ``alias/aws/``)."""

    def __init__(self, alias: str, reserved: bool = False) -> None:
        super().__init__(alias, reserved)
        self.alias, self.reserved = alias, reserved


class AliasTargetMismatch(DomainError):
    """UpdateAlias to a key of another kind (symmetric or not, keyusage) than the alias's current key (AWS's rule:
    callers of the alias keep working)."""

    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


class TooManyTags(DomainError):
    """The key would carry more than ``limit`` tags."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class KeyPolicyMalformed(DomainError):
    """A key policy that is not a JSON object of at most ``limit`` characters (``reason`` says which)."""

    def __init__(self, reason: str, limit: int) -> None:
        super().__init__(reason, limit)
        self.reason, self.limit = reason, limit


class InvalidMarker(DomainError):
    """A pagination marker that this server did not issue for this listing."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class OperationNotSupported(DomainError):
    """The keyspec's algorithm cannot do ``operation`` at all."""

    def __init__(self, keyspec: str, operation: str) -> None:
        super().__init__(keyspec, operation)
        self.keyspec, self.operation = keyspec, operation


class UsageNotAllowed(DomainError):
    """The key's keyusage does not allow ``operation``."""

    def __init__(self, usage: str, operation: str) -> None:
        super().__init__(usage, operation)
        self.usage, self.operation = usage, operation


RotationRefusal = Literal["not_symmetric", "external"]


class KeyNotRotatable(DomainError):
    """The key has no versions to rotate or retire: ``reason`` ``not_symmetric`` (asymmetric and HMAC keys,
    whose signatures and MACs name no version) or ``external`` (imported material comes from the app: such a
    key rotates by importing new material into a new version, docs/byok.md)."""

    def __init__(self, keyid: str, keyspec: str, reason: RotationRefusal) -> None:
        super().__init__(keyid, keyspec, reason)
        self.keyid, self.keyspec, self.reason = keyid, keyspec, reason


class KeyVersionRetired(DomainError):
    """The ciphertext names a key version below the key's minimum decryption version (its material is kept)."""

    def __init__(self, keyid: str, version: int, minimum: int) -> None:
        super().__init__(keyid, version, minimum)
        self.keyid, self.version, self.minimum = keyid, version, minimum


class DestinationKeyUnusable(DomainError):
    """ReEncrypt's destination key cannot encrypt: ``cause`` says why (not found, disabled, wrong keyspec...)."""

    def __init__(self, cause: DomainError) -> None:
        super().__init__(cause)
        self.cause = cause


# -- ciphertexts ------------------------------------------------------------------------------------------


class InvalidCiphertext(DomainError):
    """The bytes are not a pyehsm ciphertext at all."""


class CiphertextKeyMismatch(DomainError):
    """The ciphertext names its key (the keyed form) and it is not the key the request names."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class DecryptionFailed(DomainError):
    """The ciphertext does not decrypt under this key (one error for every cause)."""

    def __init__(self, scheme: Literal["symmetric", "asymmetric"]) -> None:
        super().__init__(scheme)
        self.scheme = scheme


# -- key import (BYOK) -------------------------------------------------------------------------------------


class ImportTokenInvalid(DomainError):
    pass


class ImportTokenExpired(DomainError):
    pass


class ImportTokenReplaced(DomainError):
    """A newer GetParametersForImport replaced the token's parameters."""


class ImportTokenSpent(DomainError):
    """The token's parameters were deleted after too many failed imports."""


class KeyNotExternal(DomainError):
    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyMaterialAlreadyImported(DomainError):
    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


ImportMismatch = Literal["not_same", "not_new"]


class ImportedMaterialMismatch(DomainError):
    """``not_same``: a re-import (after the key's material was deleted or expired) brought other material than
    the key's; ``not_new``: an import into a new key version brought material one of the key's versions has."""

    def __init__(self, keyid: str, reason: ImportMismatch) -> None:
        super().__init__(keyid, reason)
        self.keyid, self.reason = keyid, reason


class ImportedVersionPending(DomainError):
    """New key material was imported into a version that waits for RotateKey; import more after that."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class NotAWrappingKey(DomainError):
    def __init__(self, keyspec: str) -> None:
        super().__init__(keyspec)
        self.keyspec = keyspec


class ImportUnwrapFailed(DomainError):
    """The key material does not unwrap under the token's key pair with this padding."""


class MaterialRejected(DomainError):
    """Base: the unwrapped material does not fit the keyspec (the subclass names the rule, never the data)."""


class MaterialLengthWrong(MaterialRejected):
    def __init__(self, keyspec: str, sizes: str) -> None:
        super().__init__(keyspec, sizes)
        self.keyspec, self.sizes = keyspec, sizes


class MaterialMalformed(MaterialRejected):
    def __init__(self, keyspec: str, rule: str) -> None:
        super().__init__(keyspec, rule)
        self.keyspec, self.rule = keyspec, rule


class MaterialNotImportable(MaterialRejected):
    def __init__(self, keyspec: str) -> None:
        super().__init__(keyspec)
        self.keyspec = keyspec


# -- secrets ----------------------------------------------------------------------------------------------


class SecretNotFound(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretVersionNotFound(DomainError):
    def __init__(self, name: str, version: int) -> None:
        super().__init__(name, version)
        self.name, self.version = name, version


class SecretNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


SecretChange = Literal["put", "modify", "get"]


class SecretDeleted(DomainError):
    """The secret is scheduled for deletion: ``change`` is refused until it is restored."""

    def __init__(self, name: str, change: SecretChange) -> None:
        super().__init__(name, change)
        self.name, self.change = name, change


class SecretBusy(DomainError):
    """Another request changed the secret at the same time."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretKeyGone(DomainError):
    """The secret's encryption key no longer exists."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretKeyUnusable(DomainError):
    """The secret's encryption key exists but ``cause`` forbids its use."""

    def __init__(self, name: str, cause: DomainError) -> None:
        super().__init__(name, cause)
        self.name, self.cause = name, cause


# -- attestation ------------------------------------------------------------------------------------------


class QuoteProviderMissing(DomainError):
    """This server cannot generate quotes (no TEE quote provider)."""


class QuotePolicyNotFound(DomainError):
    def __init__(self, policy_id: str) -> None:
        super().__init__(policy_id)
        self.policy_id = policy_id


# -- key release (docs/key-release.md) ---------------------------------------------------------------------

ReleaseSubject = Literal["key", "secret"]


class ReleasePolicyInvalid(DomainError):
    """A release policy document is refused; ``detail`` names the place and the rule (never a value)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ReleaseAttestationRequired(DomainError):
    """The key or secret has a release policy and the request carries no attestation bundle (or cannot
    carry one: a batch, the AWS door)."""

    def __init__(self, subject: ReleaseSubject, name: str) -> None:
        super().__init__(subject, name)
        self.subject, self.name = subject, name


class ReleasePolicyNotMet(DomainError):
    """The verified quote satisfies no alternative of the release policy ``policy_id`` (which condition
    failed is never said)."""

    def __init__(self, subject: ReleaseSubject, name: str, policy_id: str) -> None:
        super().__init__(subject, name, policy_id)
        self.subject, self.name, self.policy_id = subject, name, policy_id


class AttestationNonceInvalid(DomainError):
    """The bundle's nonce is unknown to this app, expired or already spent."""


class AttestationRejected(DomainError):
    """The bundle's quote does not verify, or its report data does not bind the nonce and recipient key;
    ``reason`` is the verifier's (no policy condition in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyChallenges(DomainError):
    """The app holds ``limit`` unspent attestation challenges already."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


# -- apps and limits --------------------------------------------------------------------------------------

EnrollRefusal = Literal["bad_token", "token_required", "closed"]


class EnrollRefused(DomainError):
    def __init__(self, reason: EnrollRefusal) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(DomainError):
    """The app sent more requests than its rate limit allows."""

    def __init__(self, appid: str) -> None:
        super().__init__(appid)
        self.appid = appid


# -- server faults ----------------------------------------------------------------------------------------


class InternalFailure(DomainError):
    """A server-side failure; no protocol shows its details."""


class AuditUnavailable(DomainError):
    """--audit-mode required: the request's audit record could not be written, so it is refused
    (before its handler ran: it changed nothing; docs/audit.md)."""


class StartupError(Exception):
    """The server cannot start (bad configuration, wrong root key, loose file permissions)."""
