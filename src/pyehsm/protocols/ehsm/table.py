"""THE eHSM Action table: every ``?Action=`` name -> (payload Struct, handler, signed).

Adding an Action is one handler in ``actions/<area>.py`` and one row here (docs/architecture.md).
``signed=False`` rows take no envelope: no payload, no appid, no signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pyehsm.protocols.ehsm.actions import apps, asymmetric, attestation, byok, keys, secrets, symmetric
from pyehsm.protocols.ehsm.handler import ActionSpec

_ROWS: tuple[ActionSpec, ...] = (
    # apps and server facts
    ActionSpec("GetVersion", None, apps.get_version, signed=False),
    ActionSpec("Enroll", None, apps.enroll, signed=False),
    ActionSpec("SetAppSettings", apps.SetAppSettingsPayload, apps.set_app_settings),
    # key management
    ActionSpec("CreateKey", keys.CreateKeyPayload, keys.create_key),
    ActionSpec("ListKey", None, keys.list_key),
    ActionSpec("EnableKey", keys.KeyIdPayload, keys.enable_key),
    ActionSpec("DisableKey", keys.KeyIdPayload, keys.disable_key),
    ActionSpec("DeleteKey", keys.KeyIdPayload, keys.delete_key),
    ActionSpec("DeleteAllKey", None, keys.delete_all_key),
    # symmetric cryptography
    ActionSpec("Encrypt", symmetric.EncryptPayload, symmetric.encrypt),
    ActionSpec("Decrypt", symmetric.DecryptPayload, symmetric.decrypt),
    ActionSpec("GenerateDataKey", symmetric.GenerateDataKeyPayload, symmetric.generate_data_key),
    ActionSpec(
        "GenerateDataKeyWithoutPlaintext",
        symmetric.GenerateDataKeyPayload,
        symmetric.generate_data_key_without_plaintext,
    ),
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
)

# Other spellings that Intel's clients send for the same Action.
_ALIASES = {"DeleteALLKey": "DeleteAllKey"}

_BY_NAME = {row.name: row for row in _ROWS}
if len(_BY_NAME) != len(_ROWS):  # pragma: no cover - a typo in the table above
    raise RuntimeError("an Action is named twice in the eHSM Action table")

ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    {**_BY_NAME, **{alias: _BY_NAME[name] for alias, name in _ALIASES.items()}}
)
