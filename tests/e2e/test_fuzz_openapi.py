"""OpenAPI 3.1: the document is generated from the registered actions, served at /openapi.json and kept
in docs/openapi.json; schemathesis fuzzes every operation of a real server from it.

Each generated case is sent twice: as generated (envelope-level garbage: bad timestamps, missing
fields, wrong types) and re-signed with a real app's apikey and a fresh timestamp, so the payload
reaches payload validation and the handlers. No answer may be a 5xx, carry a stack trace, or lack the
{code, message, result} envelope. A longer run: PYEHSM_FUZZ_EXAMPLES=500 pytest tests/e2e/test_fuzz_openapi.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from pyehsm.client import Client
from pyehsm.client.operations import (
    ALL_ACTIONS,
    EXTENSION_ACTIONS,
    KEY_AGREEMENT_ACTIONS,
    KEY_METADATA_ACTIONS,
    KEY_RELEASE_ACTIONS,
    KEY_VERSION_ACTIONS,
)
from pyehsm.protocols.ehsm.openapi import build_openapi, render_openapi
from pyehsm.protocols.ehsm.signing import sign_request
from pyehsm.protocols.ehsm.table import ACTIONS
from tests.support.server import ServerProcess

DOCS_OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES = int(os.environ.get("PYEHSM_FUZZ_EXAMPLES", "10"))
SLOW_KEYSPECS = {"EH_RSA_3072", "EH_RSA_4096"}  # keygen would dominate the run; RSA-2048 stays in
TRACE_MARKERS = ("Traceback", 'File "', "Error:", "Exception")


def test_static_copy_is_up_to_date() -> None:
    assert DOCS_OPENAPI.read_text(encoding="utf-8") == render_openapi(ACTIONS), (
        "docs/openapi.json is stale: run `pyehsm openapi --out docs/openapi.json`"
    )


def test_served_document_describes_every_action(server: ServerProcess) -> None:
    served = httpx.get(f"{server.url}/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    doc = served.json()
    assert doc == build_openapi(ACTIONS)
    assert doc["openapi"] == "3.1.0"
    registered = set(ACTIONS)
    assert {p.removeprefix("/ehsm?Action=") for p in doc["paths"]} == registered
    # every eHSM Action, the alias, pyehsm's SetAppSettings (signed-action form only) and its extensions
    assert len(ALL_ACTIONS) == 33 and len(EXTENSION_ACTIONS) == 7 and len(KEY_METADATA_ACTIONS) == 11
    assert len(KEY_VERSION_ACTIONS) == 5 and len(KEY_AGREEMENT_ACTIONS) == 3 and len(KEY_RELEASE_ACTIONS) == 7
    assert registered == {
        *ALL_ACTIONS,
        *EXTENSION_ACTIONS,
        *KEY_METADATA_ACTIONS,
        *KEY_VERSION_ACTIONS,
        *KEY_AGREEMENT_ACTIONS,
        *KEY_RELEASE_ACTIONS,
        "DeleteALLKey",
        "SetAppSettings",
    }
    encrypt = doc["paths"]["/ehsm?Action=Encrypt"]["post"]
    request = doc["components"]["schemas"][encrypt["requestBody"]["content"]["application/json"]["schema"]["$ref"][21:]]
    assert request["required"] == ["appid", "timestamp", "sign", "payload"]
    payload = doc["components"]["schemas"][request["properties"]["payload"]["$ref"][21:]]
    assert payload["required"] == ["keyid", "plaintext"]
    assert payload["properties"]["plaintext"]["contentEncoding"] == "base64"
    assert set(doc["paths"]["/ehsm?Action=GetVersion"]) == {"get", "post"}


def check_answer(resp: httpx.Response, what: str) -> dict[str, Any]:
    assert resp.status_code == 200, f"{what}: HTTP {resp.status_code}"
    assert resp.headers["content-type"] == "application/json", what
    for marker in TRACE_MARKERS:
        assert marker not in resp.text, f"{what}: stack trace in {resp.text[:300]}"
    envelope = msgspec.json.decode(resp.content)
    assert isinstance(envelope, dict) and set(envelope) == {"code", "message", "result"}, what
    assert isinstance(envelope["result"], dict) and isinstance(envelope["message"], str), what
    assert envelope["code"] in (200, 400, 404), f"{what}: {envelope}"
    return envelope


def serialize(body: object) -> bytes | None:
    if body is NOT_SET:
        return None
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return json.dumps(body, default=str).encode()


def signed_body(case: schemathesis.Case, app: Client, keyids: list[str]) -> dict[str, Any] | None:
    """The generated envelope with real credentials, a fresh timestamp and a valid signature; a generated
    keyid is replaced by one of the app's real keys (picked by the generated value) so handlers run."""
    body = case.body if isinstance(case.body, dict) else {}
    payload = body.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("keyid"), str):
        payload = {**payload, "keyid": keyids[len(payload["keyid"]) % len(keyids)]}
    action = case.operation.path.partition("Action=")[2]
    if action == "CreateKey" and isinstance(payload, dict) and str(payload.get("keyspec")) in SLOW_KEYSPECS:
        return None
    nonce = body.get("nonce") if isinstance(body.get("nonce"), str) and len(body["nonce"]) <= 64 else None
    timestamp = str(int(time.time() * 1000))
    out: dict[str, Any] = {"appid": app.appid, "timestamp": timestamp}
    if nonce:
        out["nonce"] = nonce
    if payload is not None:
        out["payload"] = payload
    out["sign"] = sign_request(app.apikey, app.appid, timestamp, payload, nonce or None)
    return out


def test_fuzz_every_operation(server: ServerProcess, client: Client) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(ACTIONS)
    seen: dict[str, set[int]] = {}
    signed_ok: set[str] = set()
    keyids = [client.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CTR", "EH_EC_P256", "EH_RSA_2048")]
    with httpx.Client(base_url=server.url, timeout=30) as http:

        def exercise(case: schemathesis.Case) -> None:
            path = case.formatted_path
            what = f"{case.method.upper()} {path}"
            headers = {"Content-Type": "application/json"}
            raw = serialize(case.body)
            sent = f"{what} body={(raw or b'')[:300]!r}"
            answer = check_answer(http.request(case.method.upper(), path, content=raw, headers=headers), sent)
            seen.setdefault(path, set()).add(answer["code"])
            if case.method.lower() == "post" and raw is not None:
                body = signed_body(case, client, keyids)
                if body is not None:
                    answer = check_answer(
                        http.post(path, json=body), f"signed {what} payload={body.get('payload')!r:.300}"
                    )
                    seen[path].add(answer["code"])
                    if answer["code"] == 200:
                        signed_ok.add(path.partition("Action=")[2])

        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run = settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure is reported as found
                    suppress_health_check=list(HealthCheck),
                )(given(case=operation.as_strategy(generation_mode=mode))(exercise))
                run()
    assert set(seen) == {op.path for op in operations}
    assert len(signed_ok) >= 5, signed_ok  # re-signed cases get past authentication into the handlers


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'{"appid": 1}', b"\xff\xfe", b"{" * 10000, b'"x"' * 30000])
def test_malformed_bodies_get_an_envelope(server: ServerProcess, body: bytes) -> None:
    for action in ("Encrypt", "ListKey", "CreateSecret", "Nope"):
        check_answer(httpx.post(f"{server.base}?Action={action}", content=body), f"{action} {body[:20]!r}")
