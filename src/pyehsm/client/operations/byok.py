"""Request builders of BYOK: GetParametersForImport, ImportKeyMaterial."""

from __future__ import annotations

from typing import Any, TypeVar

from pyehsm.client.models import (
    ImportParameters,
    b64,
)
from pyehsm.client.operations.call import Call, _truthy
from pyehsm.client.operations.crypto import DEFAULT_ASYMMETRIC_PADDING

T = TypeVar("T")


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
