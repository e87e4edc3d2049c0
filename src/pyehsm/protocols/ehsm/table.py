"""THE eHSM Action table: every ``?Action=`` name -> (payload Struct, handler, signed).

Adding an Action is one handler in ``actions/<area>.py`` and one row here (docs/architecture.md).
``signed=False`` rows take no envelope: no payload, no appid, no signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pyehsm.protocols.ehsm.actions import (
    apps,
    asymmetric,
    attestation,
    batch,
    byok,
    key_metadata,
    keys,
    mac,
    release,
    rotation,
    secrets,
    symmetric,
)
from pyehsm.protocols.ehsm.handler import ActionSpec

_ROWS: tuple[ActionSpec, ...] = (
    # apps and server facts
    ActionSpec("GetVersion", None, apps.get_version, signed=False),
    ActionSpec("Enroll", None, apps.enroll, signed=False),
    ActionSpec("SetAppSettings", apps.SetAppSettingsPayload, apps.set_app_settings),
    # key management
    ActionSpec("CreateKey", keys.CreateKeyPayload, keys.create_key),
    ActionSpec("ListKey", keys.ListKeyPayload, keys.list_key),
    ActionSpec("EnableKey", keys.KeyIdPayload, keys.enable_key),
    ActionSpec("DisableKey", keys.KeyIdPayload, keys.disable_key),
    ActionSpec("DeleteKey", keys.KeyIdPayload, keys.delete_key),
    ActionSpec("DeleteAllKey", None, keys.delete_all_key),
    # key metadata (pyehsm: docs/key-metadata.md)
    ActionSpec("DescribeKey", keys.KeyIdPayload, key_metadata.describe_key),
    ActionSpec("UpdateKeyDescription", key_metadata.UpdateKeyDescriptionPayload, key_metadata.update_key_description),
    ActionSpec("CreateAlias", key_metadata.AliasKeyPayload, key_metadata.create_alias),
    ActionSpec("UpdateAlias", key_metadata.AliasKeyPayload, key_metadata.update_alias),
    ActionSpec("DeleteAlias", key_metadata.AliasPayload, key_metadata.delete_alias),
    ActionSpec("ListAliases", key_metadata.ListAliasesPayload, key_metadata.list_aliases),
    ActionSpec("TagKey", key_metadata.TagKeyPayload, key_metadata.tag_key),
    ActionSpec("UntagKey", key_metadata.UntagKeyPayload, key_metadata.untag_key),
    ActionSpec("ListKeyTags", keys.KeyIdPayload, key_metadata.list_key_tags),
    ActionSpec("ScheduleKeyDeletion", key_metadata.ScheduleKeyDeletionPayload, key_metadata.schedule_key_deletion),
    ActionSpec("CancelKeyDeletion", keys.KeyIdPayload, key_metadata.cancel_key_deletion),
    # symmetric cryptography
    ActionSpec("Encrypt", symmetric.EncryptPayload, symmetric.encrypt),
    ActionSpec("Decrypt", symmetric.DecryptPayload, symmetric.decrypt),
    ActionSpec("GenerateDataKey", symmetric.GenerateDataKeyPayload, symmetric.generate_data_key),
    ActionSpec(
        "GenerateDataKeyWithoutPlaintext",
        symmetric.GenerateDataKeyWithoutPlaintextPayload,
        symmetric.generate_data_key_without_plaintext,
    ),
    # batches of symmetric operations
    ActionSpec("BatchEncrypt", batch.BatchEncryptPayload, batch.batch_encrypt),
    ActionSpec("BatchDecrypt", batch.BatchDecryptPayload, batch.batch_decrypt),
    ActionSpec("BatchGenerateDataKey", batch.BatchGenerateDataKeyPayload, batch.batch_generate_data_key),
    ActionSpec("BatchDecapsulate", batch.BatchDecapsulatePayload, batch.batch_decapsulate),
    # MACs and randomness
    ActionSpec("GenerateMac", mac.GenerateMacPayload, mac.generate_mac),
    ActionSpec("VerifyMac", mac.VerifyMacPayload, mac.verify_mac),
    ActionSpec("GenerateRandom", mac.GenerateRandomPayload, mac.generate_random),
    # key versions: rotation, minimum decryption version, re-encryption (pyehsm; docs/key-rotation.md)
    ActionSpec("RotateKey", rotation.RotateKeyPayload, rotation.rotate_key),
    ActionSpec("UpdateKeyRotation", rotation.UpdateKeyRotationPayload, rotation.update_key_rotation),
    ActionSpec("ListKeyRotations", rotation.ListKeyRotationsPayload, rotation.list_key_rotations),
    ActionSpec("UpdateKeyVersionPolicy", rotation.UpdateKeyVersionPolicyPayload, rotation.update_key_version_policy),
    ActionSpec("ReEncrypt", rotation.ReEncryptPayload, rotation.reencrypt),
    # asymmetric cryptography
    ActionSpec("GetPublicKey", asymmetric.PublicKeyPayload, asymmetric.get_public_key),
    ActionSpec("AsymmetricEncrypt", asymmetric.AsymmetricEncryptPayload, asymmetric.asymmetric_encrypt),
    ActionSpec("AsymmetricDecrypt", asymmetric.AsymmetricDecryptPayload, asymmetric.asymmetric_decrypt),
    ActionSpec("Sign", asymmetric.SignPayload, asymmetric.sign),
    ActionSpec("Verify", asymmetric.VerifyPayload, asymmetric.verify),
    ActionSpec("ExportDataKey", asymmetric.ExportDataKeyPayload, asymmetric.export_data_key),
    # key encapsulation (ML-KEM)
    ActionSpec("Encapsulate", asymmetric.EncapsulatePayload, asymmetric.encapsulate),
    ActionSpec("Decapsulate", asymmetric.DecapsulatePayload, asymmetric.decapsulate),
    # key agreement (ECDH, X25519)
    ActionSpec("DeriveSharedSecret", asymmetric.DeriveSharedSecretPayload, asymmetric.derive_shared_secret),
    # bring your own key
    ActionSpec("GetParametersForImport", byok.GetParametersForImportPayload, byok.get_parameters_for_import),
    ActionSpec("ImportKeyMaterial", byok.ImportKeyMaterialPayload, byok.import_key_material),
    # secrets
    ActionSpec("CreateSecret", secrets.CreateSecretPayload, secrets.create_secret),
    ActionSpec("UpdateSecretDesc", secrets.UpdateSecretDescPayload, secrets.update_secret_desc),
    ActionSpec("PutSecretValue", secrets.PutSecretValuePayload, secrets.put_secret_value),
    ActionSpec("ListSecretVersionIds", secrets.SecretNamePayload, secrets.list_secret_version_ids),
    ActionSpec("ListSecrets", secrets.ListSecretsPayload, secrets.list_secrets),
    ActionSpec("DescribeSecret", secrets.SecretNamePayload, secrets.describe_secret),
    ActionSpec("DeleteSecret", secrets.DeleteSecretPayload, secrets.delete_secret),
    ActionSpec("GetSecretValue", secrets.GetSecretValuePayload, secrets.get_secret_value),
    ActionSpec("RestoreSecret", secrets.SecretNamePayload, secrets.restore_secret),
    # remote attestation
    ActionSpec("GenerateQuote", attestation.GenerateQuotePayload, attestation.generate_quote),
    ActionSpec("VerifyQuote", attestation.VerifyQuotePayload, attestation.verify_quote),
    ActionSpec("UploadQuotePolicy", attestation.UploadQuotePolicyPayload, attestation.upload_quote_policy),
    ActionSpec("GetQuotePolicy", attestation.GetQuotePolicyPayload, attestation.get_quote_policy),
    # attestation-gated key release (pyehsm; docs/key-release.md)
    ActionSpec("GetAttestationChallenge", None, release.get_attestation_challenge),
    ActionSpec("PutKeyReleasePolicy", release.PutKeyReleasePolicyPayload, release.put_key_release_policy),
    ActionSpec("GetKeyReleasePolicy", release.KeyReleasePolicyPayload, release.get_key_release_policy),
    ActionSpec("DeleteKeyReleasePolicy", release.DeleteKeyReleasePolicyPayload, release.delete_key_release_policy),
    ActionSpec("PutSecretReleasePolicy", release.PutSecretReleasePolicyPayload, release.put_secret_release_policy),
    ActionSpec("GetSecretReleasePolicy", release.SecretReleasePolicyPayload, release.get_secret_release_policy),
    ActionSpec(
        "DeleteSecretReleasePolicy", release.DeleteSecretReleasePolicyPayload, release.delete_secret_release_policy
    ),
)

# Other spellings that Intel's clients send for the same Action.
_ALIASES = {"DeleteALLKey": "DeleteAllKey"}

_BY_NAME = {row.name: row for row in _ROWS}
if len(_BY_NAME) != len(_ROWS):  # pragma: no cover - a typo in the table above
    raise RuntimeError("an Action is named twice in the eHSM Action table")

ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    {**_BY_NAME, **{alias: _BY_NAME[name] for alias, name in _ALIASES.items()}}
)
