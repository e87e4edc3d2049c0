"""Plain records the store reads and writes. Wrapped blobs only; never plaintext material."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class KeyState(enum.Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_IMPORT = "pending_import"
    PENDING_DELETION = "pending_deletion"  # ScheduleKeyDeletion: refused for every operation until deleted


class KeyVersionState(enum.Enum):
    """A key version's own state: a disabled version's material is kept but refused for decryption
    (how a minimum decryption version is enforced); the primary version is always enabled."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class VersionSource(enum.Enum):
    """How a key version was made."""

    CREATED = "created"  # the key's first version, made with the key (CreateKey)
    ON_DEMAND = "on_demand"  # a rotation asked for by the app
    AUTOMATIC = "automatic"  # the rotation job, at the key's next_rotation_ms
    IMPORTED = "imported"  # new external material imported into a new version


@dataclass(frozen=True, slots=True)
class AppRecord:
    appid: str
    wrapped_apikey: bytes
    created_ms: int
    require_signed_action: bool = False  # the app's requests must sign their Action (docs/operations.md)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    appid: str
    keyid: str
    keyspec: str
    origin: str
    keyusage: str
    state: KeyState
    alias: str
    created_ms: int
    expire_ms: int
    primary_version: int
    rotation_period_days: int | None = None  # automatic rotation period; None: off
    next_rotation_ms: int | None = None  # when the rotation job next rotates the key; None: never
    description: str = ""  # UpdateKeyDescription
    deletion_ms: int | None = None  # when the deletion job deletes the key (state PENDING_DELETION); else None
    min_decryption_version: int = 1  # ciphertexts naming an older version are refused (material kept)
    release_policy: str | None = None  # canonical JSON of its release policy (docs/key-release.md); None: none
    material_expires_ms: int | None = None  # imported material that expires (AWS ValidTo); None: never


@dataclass(frozen=True, slots=True)
class AliasRecord:
    """An app's name for one of its keys (``alias/<name>``, unique per app)."""

    appid: str
    alias: str
    keyid: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class KeyVersionRecord:
    keyid: str
    version: int
    wrapped_material: bytes | None  # None while an external key waits for its material
    created_ms: int
    state: KeyVersionState = KeyVersionState.ENABLED
    source: VersionSource = VersionSource.CREATED
    material_id: str | None = None  # keyed fingerprint of imported material (kept when it is deleted); else None


@dataclass(frozen=True, slots=True)
class KeyVersionInfo:
    """One key version without its material (list_key_versions)."""

    version: int
    created_ms: int
    state: KeyVersionState
    source: VersionSource
    has_material: bool


@dataclass(frozen=True, slots=True)
class SecretsKeyRecord:
    """An app's default secrets key: AES-256 material wrapped by the domain key (never a CMK row)."""

    appid: str
    keyid: str
    wrapped_material: bytes
    created_ms: int


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """A secret's metadata. ``encryption_keyid`` None: its versions use the app's default secrets key."""

    appid: str
    secret_id: str
    name: str
    description: str
    encryption_keyid: str | None
    rotation_interval: str
    created_ms: int
    updated_ms: int
    last_rotation_ms: int  # 0 until the first PutSecretValue
    latest_version: int
    planned_delete_ms: int | None  # set while the secret waits out its recovery window
    release_policy: str | None = None  # canonical JSON of its release policy (docs/key-release.md); None: none


@dataclass(frozen=True, slots=True)
class SecretVersionRecord:
    """One version of a secret value: its wrapped data key and the value sealed under that data key."""

    secret_id: str
    version: int
    wrapped_data_key: bytes
    sealed_value: bytes
    created_ms: int


@dataclass(frozen=True, slots=True)
class SecretVersionInfo:
    version: int
    created_ms: int


@dataclass(frozen=True, slots=True)
class QuotePolicyRecord:
    """An app's quote policy (UploadQuotePolicy): lower-case hex measurements a quote must carry.

    Either an SGX policy (mr_enclave and mr_signer; no TDX values) or a TDX policy (mr_td, and any of
    rtmr0..rtmr3; no SGX values).
    """

    appid: str
    policy_id: str
    mr_enclave: str | None
    mr_signer: str | None
    mr_td: str | None
    rtmrs: tuple[str | None, str | None, str | None, str | None]
    created_ms: int


@dataclass(frozen=True, slots=True)
class ImportParamsRecord:
    """An external key's pending BYOK import (GetParametersForImport): at most one per key.

    ``wrapped_private_key`` is the wrapping key pair's PKCS#8 private half wrapped by the domain key
    (AAD: services/byok.py wrapping_key_aad); ``public_key`` its SubjectPublicKeyInfo DER.
    """

    appid: str
    keyid: str
    token_id: str  # hex of the 16 random bytes the import token names
    wrapping_keyspec: str
    public_key: bytes
    wrapped_private_key: bytes
    created_ms: int
    expires_ms: int
    failures: int = 0  # failed ImportKeyMaterial attempts with these parameters

    def __repr__(self) -> str:
        return f"<ImportParamsRecord {self.keyid} {self.wrapping_keyspec} expires={self.expires_ms}>"


# What a store is handed to seal a new version inside its transaction (the number is chosen there).
SealVersion = Callable[[int], SecretVersionRecord]  # version id -> the sealed version record
SealKeyVersion = Callable[[int], KeyVersionRecord]  # version number -> the new key version (material wrapped)
