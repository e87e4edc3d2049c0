"""Bring-your-own-key actions: GetParametersForImport, ImportKeyMaterial (services/byok.py, docs/byok.md)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from pyehsm.crypto.keyspecs import WrappingKeySpecName, keyspec
from pyehsm.protocols.ehsm.errors import TOKEN_MISSING, ParamError
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import Ciphertext, KeyId, identifier
from pyehsm.services.container import Services

# RSA wrapping keys take EH_RSA_PKCS1, EH_RSA_PKCS1_OAEP or the extensions EH_RSA_AES_KEY_WRAP and (AWS KMS's
# SHA-1 wrapping algorithms) EH_RSA_PKCS1_OAEP_SHA1 and EH_RSA_AES_KEY_WRAP_SHA1 (crypto/key_import.py); SM2
# wrapping keys ignore the field, and the reference's SM2 examples send EH_PAD_NONE or EH_RSA_PKCS1, so every
# padding name is accepted here and judged by the wrapping key.
ImportPaddingName = Literal[
    "EH_PAD_NONE",
    "EH_RSA_PKCS1",
    "EH_RSA_PKCS1_OAEP",
    "EH_RSA_PKCS1_PSS",
    "EH_RSA_AES_KEY_WRAP",
    "EH_RSA_PKCS1_OAEP_SHA1",
    "EH_RSA_AES_KEY_WRAP_SHA1",
    "EH_ML_KEM_AES_KEY_WRAP",
]
TokenText = Annotated[str, identifier(1, 512)]


class GetParametersForImportPayload(msgspec.Struct):
    keyid: KeyId
    keyspec: WrappingKeySpecName  # the wrapping key's type
    newVersion: bool = False  # for an import into a new key version (rotation of a key with imported material)


class ImportKeyMaterialPayload(msgspec.Struct):
    keyid: KeyId
    key_material: Ciphertext  # the material encrypted under the wrapping public key
    padding_mode: ImportPaddingName | None = None  # required for RSA wrapping keys
    importToken: TokenText | None = None  # docs/protocol.md spelling
    ImportToken: TokenText | None = None  # the API reference's spelling
    newVersion: bool = False  # import into a new key version made primary (a key that has material: rotation)

    def token(self) -> str:
        given = {t for t in (self.importToken, self.ImportToken) if t is not None}
        if not given:
            raise ParamError(TOKEN_MISSING)
        if len(given) > 1:
            raise ParamError(
                "Parameter invalid, The importToken was given twice with different values "
                "(send one of importToken, ImportToken)."
            )
        return given.pop()


async def get_parameters_for_import(svc: Services, caller: Caller, p: GetParametersForImportPayload) -> Reply:
    params = await svc.byok.get_parameters_for_import(
        caller.appid, p.keyid, keyspec(p.keyspec), new_version=p.newVersion
    )
    return Reply({"pubkey": params.pubkey, "importToken": params.import_token}, keyid=p.keyid)


async def import_key_material(svc: Services, caller: Caller, p: ImportKeyMaterialPayload) -> Reply:
    imported = await svc.byok.import_key_material(
        caller.appid, p.keyid, p.padding_mode, p.key_material, p.token(), new_version=p.newVersion
    )
    if not p.newVersion:  # the eHSM answer, unchanged
        return Reply({"result": True}, keyid=p.keyid)
    return Reply({"result": True, "version": imported.version}, keyid=p.keyid)
