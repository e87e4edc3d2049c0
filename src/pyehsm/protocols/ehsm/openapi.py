"""The OpenAPI 3.1 document of the eHSM API, generated from the registered actions' payload Structs.

eHSM has one endpoint, ``/ehsm``, and names the operation in the ``Action`` query parameter. The
document gives every Action value its own path item (``/ehsm?Action=Encrypt``) so each operation has
its own request schema: the signed envelope (docs/protocol.md section 2) whose ``payload`` is the action's
msgspec Struct, rendered with ``msgspec.json.schema_components``. Every answer is HTTP 200 with the
``{code, message, result}`` envelope, errors included.

    >>> from pyehsm.protocols.ehsm.table import ACTIONS
    >>> doc = build_openapi(ACTIONS)
    >>> doc["paths"]["/ehsm?Action=Encrypt"]["post"]["operationId"]
    'Encrypt'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from pyehsm.protocols.ehsm.handler import ActionSpec
from pyehsm.version import VERSION

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"

# Where each action module's operations are grouped (tags), in display order.
_TAGS = {
    "apps": ("Apps", "Enrollment and server version (unsigned)."),
    "keys": ("Keys", "Customer master keys: create, list, enable, disable, delete."),
    "key_metadata": (
        "Key metadata",
        "pyehsm: DescribeKey, descriptions, aliases, tags, scheduled deletion (docs/key-metadata.md).",
    ),
    "symmetric": ("Crypto", "Symmetric encryption and data keys."),
    "rotation": ("Key versions", "Rotation, minimum decryption version and ReEncrypt (pyehsm; docs/key-rotation.md)."),
    "asymmetric": ("Asymmetric", "Public keys, asymmetric encryption, signatures, data key export."),
    "batch": ("Batch", "Batches of up to 100 symmetric operations, each item with its own result or error."),
    "mac": ("MAC", "MACs with HMAC keys, and random bytes."),
    "byok": ("BYOK", "Bring your own key: import key material."),
    "secrets": ("Secrets", "The secrets manager."),
    "attestation": ("Attestation", "Remote attestation: quotes and quote policies."),
}

_SUMMARIES = {
    "GetVersion": "The server's version and build id.",
    "Enroll": "Create an app; answers its appid and apikey.",
    "CreateKey": "Create a customer master key (CMK).",
    "ListKey": "List the calling app's keys (optionally paged with limit and marker).",
    "EnableKey": "Enable a key.",
    "DisableKey": "Disable a key.",
    "DeleteKey": "Delete a key.",
    "DeleteAllKey": "Delete every key of the calling app.",
    "DeleteALLKey": "Alias of DeleteAllKey.",
    "DescribeKey": "A key's metadata, never its material (AWS KMS DescribeKey; Vault GET transit/keys/:name).",
    "UpdateKeyDescription": "Set or clear a key's description (AWS KMS UpdateKeyDescription).",
    "CreateAlias": "Name a key alias/<name>, unique in the app (AWS KMS CreateAlias).",
    "UpdateAlias": "Point an alias at another key (AWS KMS UpdateAlias).",
    "DeleteAlias": "Delete an alias; the key stays (AWS KMS DeleteAlias).",
    "ListAliases": "List the app's aliases, paged (AWS KMS ListAliases).",
    "TagKey": "Add or overwrite a key's tags (AWS KMS TagResource).",
    "UntagKey": "Remove tags from a key (AWS KMS UntagResource).",
    "ListKeyTags": "A key's tags (AWS KMS ListResourceTags).",
    "ScheduleKeyDeletion": "Refuse the key and delete it after 7..30 days (AWS KMS ScheduleKeyDeletion).",
    "CancelKeyDeletion": "Cancel a scheduled deletion; the key comes back disabled (AWS KMS CancelKeyDeletion).",
    "Encrypt": "Encrypt up to 6144 bytes with a symmetric CMK.",
    "Decrypt": "Decrypt a ciphertext made by Encrypt.",
    "GenerateDataKey": "A fresh data key, in plaintext and encrypted under the CMK.",
    "GenerateDataKeyWithoutPlaintext": "A fresh data key, encrypted under the CMK only.",
    "ExportDataKey": "Re-encrypt a data key under an asymmetric key's public key.",
    "GetPublicKey": "The PEM public key of an asymmetric key.",
    "Encapsulate": "A fresh shared secret and its ML-KEM ciphertext under the key's public key.",
    "Decapsulate": "The shared secret of an ML-KEM ciphertext (implicit rejection).",
    "DeriveSharedSecret": "ECDH or X25519 with a peer's public key: the raw shared secret.",
    "AsymmetricEncrypt": "Encrypt with an RSA or SM2 key.",
    "AsymmetricDecrypt": "Decrypt with an RSA or SM2 key.",
    "Sign": "Sign a message or digest.",
    "Verify": "Verify a signature.",
    "GetParametersForImport": "A wrapping public key and an import token for an external key.",
    "ImportKeyMaterial": "Import wrapped key material into an external key.",
    "CreateSecret": "Create a secret and its first version.",
    "UpdateSecretDesc": "Update a secret's description.",
    "PutSecretValue": "Store a new version of a secret.",
    "ListSecretVersionIds": "List a secret's versions.",
    "ListSecrets": "List the calling app's secrets.",
    "DescribeSecret": "A secret's metadata.",
    "DeleteSecret": "Schedule or force the deletion of a secret.",
    "GetSecretValue": "A secret's value (latest or a given version).",
    "RestoreSecret": "Cancel a scheduled deletion.",
    "GenerateQuote": "A quote of the server's TEE over a challenge.",
    "VerifyQuote": "Verify a quote; the answer is signed with the app's apikey.",
    "UploadQuotePolicy": "Store an MRENCLAVE/MRSIGNER policy.",
    "GetQuotePolicy": "Read a quote policy.",
    "BatchEncrypt": "Encrypt up to 100 items, each under its own symmetric CMK.",
    "BatchDecrypt": "Decrypt up to 100 ciphertexts made by Encrypt or BatchEncrypt.",
    "BatchGenerateDataKey": "Up to 100 fresh data keys, each in plaintext and encrypted under its CMK.",
    "GenerateMac": "The HMAC of a message under an EH_HMAC key.",
    "VerifyMac": "Verify an HMAC (constant-time comparison); result true or false.",
    "GenerateRandom": "1 to 1024 random bytes.",
    "RotateKey": "Add a new version of an AES-GCM or SM4 key and make it primary.",
    "UpdateKeyRotation": "Turn automatic rotation on (every 90..2560 days) or off.",
    "ListKeyRotations": "A key's versions and rotation settings.",
    "UpdateKeyVersionPolicy": "Refuse ciphertexts of versions below a minimum (reversible).",
    "ReEncrypt": "Decrypt and re-encrypt inside the server (to the primary version or another key).",
}

# pyehsm Actions beyond eHSM: what they are called elsewhere (docs/key-rotation.md).
_EQUIVALENTS = {
    "RotateKey": "AWS KMS: RotateKeyOnDemand. Vault transit: POST /transit/keys/:name/rotate.",
    "UpdateKeyRotation": "AWS KMS: EnableKeyRotation (RotationPeriodInDays) / DisableKeyRotation. "
    "Vault transit: auto_rotate_period.",
    "ListKeyRotations": "AWS KMS: ListKeyRotations (+ GetKeyRotationStatus). Vault transit: GET /transit/keys/:name.",
    "UpdateKeyVersionPolicy": "Vault transit: min_decryption_version (POST /transit/keys/:name/config).",
    "ReEncrypt": "AWS KMS: ReEncrypt. Vault transit: POST /transit/rewrap/:name (same key).",
    "DeriveSharedSecret": "AWS KMS: DeriveSharedSecret (KeyAgreementAlgorithm ECDH).",
}

_ENVELOPE_RESPONSE = {
    "title": "Envelope",
    "description": "Every answer: HTTP 200, code 200 on success (message contains 'success'), 400 client "
    "error, 404 unknown Action, 500 internal error; result always an object (empty on errors).",
    "type": "object",
    "properties": {
        "code": {"type": "integer", "enum": [200, 400, 404, 500]},
        "message": {"type": "string"},
        "result": {"type": "object"},
    },
    "required": ["code", "message", "result"],
}


def _tag(spec: ActionSpec) -> str:
    module = spec.handler.__module__.rsplit(".", 1)[-1]
    return _TAGS.get(module, (module.capitalize(), ""))[0]


def _request_schema(name: str, spec: ActionSpec, payload_ref: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "appid": {"type": "string", "minLength": 1, "description": "The app's id (from Enroll)."},
        "timestamp": {
            "type": "string",
            "pattern": "^[0-9]{13}$",
            "description": "Milliseconds since the epoch, as a 13-digit string; within 10 minutes of the "
            "server's clock.",
        },
        "nonce": {"type": "string", "maxLength": 64, "description": "Optional; covered by the signature."},
        "action": {
            "type": "string",
            "description": "Optional (pyehsm's signed-action form): the Action, covered by the signature; "
            "must equal the query's Action.",
        },
        "sign": {
            "type": "string",
            "minLength": 1,
            "description": "base64(HMAC-SHA256(apikey, canonical string of action, appid, nonce, payload, timestamp)).",
        },
    }
    required = ["appid", "timestamp", "sign"]
    if payload_ref is not None:
        properties["payload"] = {"$ref": payload_ref}
        if spec.payload_required:
            required.append("payload")
    return {
        "title": f"{name}Request",
        "description": f"The signed request envelope of {name}.",
        "type": "object",
        "properties": properties,
        "required": required,
    }


def _responses() -> dict[str, Any]:
    return {
        "200": {
            "description": "The answer envelope (errors included).",
            "content": {"application/json": {"schema": {"$ref": REF.format(name="Envelope")}}},
        }
    }


def _operation(name: str, spec: ActionSpec, request_ref: str | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": _SUMMARIES.get(name, name),
        "tags": [_tag(spec)],
        "parameters": [
            {"name": "Action", "in": "query", "required": True, "schema": {"type": "string", "const": name}}
        ],
        "responses": _responses(),
    }
    if spec.name != name:
        operation["description"] = f"Alias of {spec.name}."
    elif name in _EQUIVALENTS:
        operation["description"] = _EQUIVALENTS[name]
    if request_ref is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": request_ref}}},
        }
    return operation


def build_openapi(actions: Mapping[str, ActionSpec]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``actions`` (an Action name -> ActionSpec table)."""
    structs = sorted({s.payload for s in actions.values() if s.payload is not None}, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(structs, ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(components.items()))
    schemas["Envelope"] = _ENVELOPE_RESPONSE
    paths: dict[str, Any] = {}
    for name in sorted(actions):
        spec = actions[name]
        path = f"/ehsm?Action={name}"
        if not spec.signed:
            paths[path] = {"get": _operation(name, spec, None), "post": _operation(name, spec, None)}
            paths[path]["post"]["operationId"] = f"{name}Post"
            continue
        payload_ref = REF.format(name=spec.payload.__name__) if spec.payload is not None else None
        schemas[f"{name}Request"] = _request_schema(name, spec, payload_ref)
        paths[path] = {"post": _operation(name, spec, REF.format(name=f"{name}Request"))}
    used_tags = {_tag(spec) for spec in actions.values()}
    tags = [{"name": t, "description": d} for t, d in _TAGS.values() if t in used_tags]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "pyehsm (eHSM-KMS REST API)",
            "version": VERSION,
            "description": "One endpoint, /ehsm, with the operation in the Action query parameter. Every "
            "request except GetVersion and Enroll is a signed JSON envelope; every answer is HTTP 200 with "
            "{code, message, result}. See docs/ for the signature and the error rules.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def render_openapi(actions: Mapping[str, ActionSpec]) -> str:
    """The document as stable, indented JSON text (what docs/openapi.json holds)."""
    return json.dumps(build_openapi(actions), indent=2, ensure_ascii=False) + "\n"


def write_openapi(actions: Mapping[str, ActionSpec], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(actions), encoding="utf-8")
