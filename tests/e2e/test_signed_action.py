"""Issue 18 item 4 (server side): a signed request is spent whatever its outcome, and pyehsm's opt-in
signed-action form (the envelope's "action" field, covered by the signature) with the per-app
``require_signed_action`` setting (docs/operations.md, "Signed actions")."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from pyehsm.client import Client
from pyehsm.clock import ManualClock
from pyehsm.protocols.ehsm.actions.apps import SIGNED_FORM_ONLY as SET_SETTINGS_SIGNED_ONLY
from pyehsm.protocols.ehsm.endpoint import ACTION_MISMATCH, REPLAYED, SIGNED_ACTION_REQUIRED
from pyehsm.protocols.ehsm.signing import canonical_string, envelope_params, sign_request, sign_string
from pyehsm.services.apps import SETTINGS_TTL_MS
from tests.support.server import InProcessServer


def signed_action_body(
    c: Client, action: str, payload: dict[str, Any] | None = None, nonce: str | None = None
) -> dict[str, Any]:
    """An envelope in the signed-action form: "action" sits beside appid and is part of the signature."""
    timestamp = str(c.clock.now_ms())
    body: dict[str, Any] = {"action": action, "appid": c.appid, "timestamp": timestamp}
    if nonce is not None:
        body["nonce"] = nonce
    if payload is not None:
        body["payload"] = payload
    body["sign"] = sign_request(c.apikey, c.appid, timestamp, payload, nonce, action=action)
    return body


def set_required(server: InProcessServer, appid: str, state: str) -> subprocess.CompletedProcess[str]:
    """`pyehsm app require-signed-action APPID on|off --data-dir DIR`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pyehsm", "app", "require-signed-action", appid, state, "--data-dir",
         str(server.settings.data_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_canonical_string_of_the_signed_action_form() -> None:
    """The exact string the documentation gives: "action" sorts first, the rest is Intel's form."""
    params = envelope_params("APP", "1700000000000", {"keyid": "K", "plaintext": "SGk="}, "n1", action="Encrypt")
    text = canonical_string(params)
    assert text == "action=Encrypt&appid=APP&nonce=n1&payload=keyid=K&plaintext=SGk=&timestamp=1700000000000"
    assert sign_request("k" * 32, "APP", "1700000000000", {"keyid": "K", "plaintext": "SGk="}, "n1", "Encrypt") == (
        sign_string("k" * 32, text)
    )
    assert canonical_string(envelope_params("APP", "1700000000000", None)) == "appid=APP&timestamp=1700000000000"


def test_signed_action_accepted_and_intel_form_unchanged(manual_client: Client) -> None:
    c = manual_client
    created = c.post_raw(
        "CreateKey", signed_action_body(c, "CreateKey", {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY"})
    )
    assert created.code == 200, created.message
    keyid = created.result["keyid"]
    listed = c.post_raw("ListKey", signed_action_body(c, "ListKey", nonce="a"))
    assert [k["keyid"] for k in listed.result["list"]] == [keyid]
    assert [k.keyid for k in c.list_key()] == [keyid]  # Intel's form: no "action", accepted as before


def test_mismatched_action_is_refused_and_spent(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    captured = signed_action_body(c, "ListKey")
    refused = c.post_raw("DeleteAllKey", captured)
    assert (refused.code, refused.message, refused.result) == (400, ACTION_MISMATCH, {})
    again = c.post_raw("ListKey", captured)  # spent by the refusal, even under its own Action
    assert (again.code, again.message) == (400, REPLAYED)
    forged = dict(signed_action_body(c, "ListKey", nonce="b"), action="DeleteAllKey")  # action is signed
    assert c.post_raw("DeleteAllKey", forged).message == "sign error"
    alias = c.post_raw("DeleteALLKey", signed_action_body(c, "DeleteAllKey", nonce="c"))  # exact match only
    assert alias.message == ACTION_MISMATCH
    assert [k.keyid for k in c.list_key()] == [keyid]


def test_action_field_must_be_a_string(manual_client: Client) -> None:
    c = manual_client
    body = c.envelope(None)
    body["action"] = 7
    assert c.post_raw("ListKey", body).message == "param type error"


def test_payload_refusal_spends_the_request(manual_client: Client) -> None:
    """A legitimate request refused for its payload cannot be re-sent as an Action whose payload is looser."""
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    captured = c.envelope({"keyspec": "EH_NOT_A_KEYSPEC", "origin": "EH_INTERNAL_KEY"}, nonce="p")
    refused = c.post_raw("CreateKey", captured)
    assert (refused.code, refused.message) == (400, "Parameter invalid, The keyspec type is incorrect.")
    resent = c.post_raw("DeleteAllKey", captured)
    assert (resent.code, resent.message) == (400, REPLAYED)
    assert [k.keyid for k in c.list_key()] == [keyid]
    # a bad payload still wins over a bad signature, as before (docs/protocol.md's order of checks)
    forged = dict(c.envelope({"keyspec": "EH_NOT_A_KEYSPEC", "origin": "EH_INTERNAL_KEY"}), sign="x" * 44)
    assert c.post_raw("CreateKey", forged).message == "Parameter invalid, The keyspec type is incorrect."


def test_refusal_by_the_handler_spends_the_request(manual_client: Client) -> None:
    c = manual_client
    captured = c.envelope({"keyid": "00000000-0000-0000-0000-000000000000"}, nonce="h")
    assert c.post_raw("DisableKey", captured).message == "keyid error"
    assert c.post_raw("DeleteKey", captured).message == REPLAYED


def test_require_signed_action_setting(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    done = set_required(manual_server, c.appid, "on")
    assert done.returncode == 0, done.stderr
    assert "require-signed-action on" in done.stdout
    clock.advance(ms=SETTINGS_TTL_MS)  # a running server re-reads the setting within SETTINGS_TTL_MS
    captured = c.envelope(None, nonce="intel")
    refused = c.post_raw("ListKey", captured)
    assert (refused.code, refused.message) == (400, SIGNED_ACTION_REQUIRED)
    listed = c.post_raw("ListKey", signed_action_body(c, "ListKey"))
    assert listed.code == 200 and [k["keyid"] for k in listed.result["list"]] == [keyid]
    assert c.post_raw("DeleteAllKey", signed_action_body(c, "ListKey", nonce="x")).message == ACTION_MISMATCH

    assert set_required(manual_server, c.appid, "off").returncode == 0
    clock.advance(ms=SETTINGS_TTL_MS)
    assert c.post_raw("DeleteAllKey", captured).message == REPLAYED  # the refused request stays spent
    assert [k.keyid for k in c.list_key()] == [keyid]  # Intel's form works again


def test_require_signed_action_command_refuses_unknown_apps(manual_server: InProcessServer) -> None:
    for appid in ("00000000-0000-0000-0000-000000000000", "a\x01b"):
        done = set_required(manual_server, appid, "on")
        assert done.returncode == 1 and "no app" in done.stderr


@pytest.mark.parametrize("state", ["maybe", ""])
def test_require_signed_action_command_usage(manual_server: InProcessServer, state: str) -> None:
    assert set_required(manual_server, "x", state).returncode == 2


def test_an_app_sets_the_requirement_for_itself(manual_client: Client) -> None:
    c = manual_client
    intel_form = c.request("SetAppSettings", {"requireSignedAction": "true"})
    assert (intel_form.code, intel_form.message) == (400, SET_SETTINGS_SIGNED_ONLY)
    assert c.list_key() == []  # the refusal changed nothing
    bad = c.post_raw("SetAppSettings", signed_action_body(c, "SetAppSettings", {"requireSignedAction": "yes"}))
    assert bad.message == "Parameter invalid, The requireSignedAction type is incorrect."

    on = c.post_raw("SetAppSettings", signed_action_body(c, "SetAppSettings", {"requireSignedAction": "true"}))
    assert (on.code, on.result) == (200, {"requireSignedAction": "true"})
    assert c.request("ListKey").message == SIGNED_ACTION_REQUIRED  # at once on the worker that changed it
    assert c.post_raw("ListKey", signed_action_body(c, "ListKey", nonce="l")).code == 200

    off = c.post_raw("SetAppSettings", signed_action_body(c, "SetAppSettings", {"requireSignedAction": "false"}))
    assert (off.code, off.result) == (200, {"requireSignedAction": "false"})
    assert c.list_key() == []


def test_the_sdk_and_cli_signed_action_form_against_the_server(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    """pyehsm's own SDK (sign_action=True) and CLI (--sign-action) speak the form the server checks: they
    keep working for an app that requires it, where Intel's form is refused."""
    c = manual_client
    assert set_required(manual_server, c.appid, "on").returncode == 0
    clock.advance(ms=SETTINGS_TTL_MS)
    assert c.request("ListKey").message == SIGNED_ACTION_REQUIRED
    with Client(manual_server.base, c.appid, c.apikey, clock=clock, sign_action=True) as signed:
        keyid = signed.create_key("EH_AES_GCM_256")
        assert signed.decrypt(keyid, signed.encrypt(keyid, b"signed action")) == b"signed action"
        assert [k.keyid for k in signed.list_key()] == [keyid]
    env = {"PYEHSM_URL": manual_server.base, "PYEHSM_APPID": c.appid, "PYEHSM_APIKEY": c.apikey}
    cli = [sys.executable, "-m", "pyehsm", "key", "list", "-o", "json"]
    refused = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env})
    assert refused.returncode != 0 and SIGNED_ACTION_REQUIRED in refused.stderr
    listed = subprocess.run(
        [*cli, "--sign-action"], capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env}
    )
    assert listed.returncode == 0, listed.stderr
    assert keyid in listed.stdout
