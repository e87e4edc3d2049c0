"""Refusals about keys: parameters a keyspec cannot take, existence and state, aliases, tags, versions,
ciphertexts."""

from __future__ import annotations

from typing import Literal

from pyehsm.errors.base import DomainError

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
