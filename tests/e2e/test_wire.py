"""The wire protocol over real HTTP: endpoint paths and methods, the envelope, signatures, timestamps,
replays and error envelopes (docs/protocol.md sections 1 and 2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote_plus, urlencode

import httpx
import msgspec
import pytest

import pyehsm
from pyehsm.client import Client
from pyehsm.clock import ManualClock, SystemClock
from tests.support.server import InProcessServer, ServerProcess

MISSING = "Missing required parameters"
REPLAYED = "Timestamp can't be repeated in 20 minutes"
NOT_JSON = "Parameter invalid, The request body is not valid JSON."
TEN_MINUTES = 600_000


HTTP = httpx.Client(timeout=30)  # one connection pool for the module (a new client costs ~0.1 s)


def post(url: str, action: str, content: bytes, path: str = "/ehsm") -> httpx.Response:
    return HTTP.post(f"{url}{path}?Action={action}", content=content, headers={"Content-Type": "application/json"})


def envelope_of(resp: httpx.Response, *secrets: str) -> dict[str, Any]:
    """The response envelope, checked: HTTP 200, {code, message, result}, no trace or secret in it."""
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert "server" not in resp.headers  # the server software is not advertised
    assert len(resp.headers["x-request-id"]) == 16
    assert int(resp.headers["content-length"]) == len(resp.content)  # not chunked
    data: dict[str, Any] = msgspec.json.decode(resp.content)
    assert set(data) == {"code", "message", "result"}
    assert isinstance(data["result"], dict)
    for needle in ("Traceback", 'File "', *secrets):
        assert needle not in resp.text
    if data["code"] != 200:
        assert data["result"] == {}
    return data


def error(resp: httpx.Response, *secrets: str) -> tuple[int, str]:
    data = envelope_of(resp, *secrets)
    return data["code"], data["message"]


def signed_body(c: Client, signed_payload: dict[str, Any] | None, **override: Any) -> bytes:
    body = c.envelope(signed_payload)
    body.update(override)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


# ------------------------------------------------------------------------------------------------
# endpoint
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ehsm", "/ehsm/"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_version(server: ServerProcess, path: str, method: str) -> None:
    data = envelope_of(HTTP.request(method, f"{server.url}{path}?Action=GetVersion"))
    assert data["code"] == 200
    assert "success" in data["message"].lower()
    assert data["result"]["version"] == pyehsm.__version__
    assert isinstance(data["result"]["git_sha"], str) and data["result"]["git_sha"]


@pytest.mark.parametrize("path", ["/ehsm", "/ehsm/"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_enroll(server: ServerProcess, path: str, method: str) -> None:
    data = envelope_of(HTTP.request(method, f"{server.url}{path}?Action=Enroll"))
    assert data["code"] == 200 and "success" in data["message"].lower()
    appid, apikey = data["result"]["appid"], data["result"]["apikey"]
    assert str(uuid.UUID(appid)) == appid  # 36-char lower-case UUID
    assert len(apikey) >= 32
    assert Client(server.base, appid, apikey, http=HTTP).list_keys() == []


def test_enroll_gives_distinct_apps(server: ServerProcess) -> None:
    apps = [envelope_of(HTTP.get(f"{server.base}/?Action=Enroll"))["result"] for _ in range(3)]
    assert len({a["appid"] for a in apps}) == 3
    assert len({a["apikey"] for a in apps}) == 3


@pytest.mark.parametrize("query", ["?Action=NoSuchAction", "?Action=enroll", "?Action=", "", "?action=ListKey"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_action(server: ServerProcess, query: str, method: str) -> None:
    resp = HTTP.request(method, f"{server.base}{query}", content=b"{}")
    assert envelope_of(resp) == {"code": 404, "message": "API Not Found", "result": {}}


@pytest.mark.parametrize(
    "query",
    [
        "?Action=DeleteKey&Action=Encrypt",
        "?Action=Encrypt&Action=DeleteKey",
        "?Action=DeleteKey&Action=DeleteKey",
        "?Action=DeleteKey&x=1&Action=DisableKey",
    ],
)
def test_a_repeated_action_is_no_action(server: ServerProcess, client: Client, query: str) -> None:
    """The Action is not signed: with two of them, which one a proxy, a log or pyehsm reads is anyone's
    guess, so none is run (API Not Found) and the signed request changes nothing."""
    keyid = client.create_key("EH_AES_GCM_256", "EH_INTERNAL_KEY")
    resp = HTTP.post(f"{server.base}{query}", content=signed_body(client, {"keyid": keyid, "plaintext": "aGk="}))
    assert envelope_of(resp) == {"code": 404, "message": "API Not Found", "result": {}}
    assert [k.keyid for k in client.list_key()] == [keyid]
    assert client.describe_key(keyid).state == "Enabled"


def test_health_endpoints(server: ServerProcess) -> None:
    assert HTTP.get(f"{server.url}/healthz").status_code == 200
    ready = HTTP.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


# ------------------------------------------------------------------------------------------------
# envelope errors
# ------------------------------------------------------------------------------------------------


def test_envelope_errors(server: ServerProcess, client: Client) -> None:
    payload = {"keyspec": "EH_AES_GCM_128", "origin": "EH_INTERNAL_KEY"}
    cases: list[tuple[bytes, str]] = [
        (signed_body(client, payload, appid=...), MISSING),
        (signed_body(client, payload, appid=""), MISSING),
        (signed_body(client, payload, timestamp=None), MISSING),
        (signed_body(client, payload, sign=""), MISSING),
        (signed_body(client, None), MISSING),  # CreateKey has required fields: payload needed
        (signed_body(client, payload, appid=1), "param type error"),
        (signed_body(client, payload, timestamp=int(client.clock.now_ms())), "param type error"),
        (signed_body(client, payload, sign=["x"]), "param type error"),
        (signed_body(client, payload, payload="keyspec=EH_AES_GCM_128"), "param type error"),
        (signed_body(client, payload, nonce="n" * 65), "Nonce length error"),
        (signed_body(client, payload, timestamp="170000000000"), "Timestamp length error"),
        (signed_body(client, payload, timestamp="17000000000000"), "Timestamp length error"),
        (signed_body(client, payload, timestamp="1x00000000000"), "Timestamp error"),
        (b"", NOT_JSON),
        (b"appid=a&timestamp=1", NOT_JSON),
        (b'{"appid": "a"', NOT_JSON),
        (b'{"appid": "\xff\xfe"}', NOT_JSON),  # not UTF-8
        (b'{"a": "\\udc00"}', NOT_JSON),  # lone surrogate escape
        (b"[" * 3000 + b"]" * 3000, NOT_JSON),  # nesting deeper than the decoder allows
        (b"[]", "param type error"),
        (b'"text"', "param type error"),
    ]
    before = client.list_keys()
    for body, message in cases:
        assert error(post(server.url, "CreateKey", body), client.apikey) == (400, message), body[:80]
    assert client.list_keys() == before == []


def test_deeply_nested_payload_is_a_clean_error(server: ServerProcess, client: Client) -> None:
    deep: Any = "x"
    for _ in range(400):
        deep = {"a": deep}
    # a valid ListKey signature path: the appid is known, the payload is absurd
    body = signed_body(client, None, payload={"x": deep})
    code, message = error(post(server.url, "ListKey", body), client.apikey)
    assert (code, message) == (400, "Parameter invalid, The payload is nested too deeply.")


def test_body_size_limit(server: ServerProcess, client: Client) -> None:
    big = {"keyid": str(uuid.uuid4()), "plaintext": "A" * (70 * 1024)}
    assert error(post(server.url, "Encrypt", signed_body(client, big))) == (
        400,
        "Parameter invalid, The request body is too large.",
    )
    assert client.list_keys() == []


def test_list_key_and_delete_all_need_no_payload(client: Client) -> None:
    assert client.request("ListKey").code == 200
    assert client.request("DeleteAllKey").code == 200


# ------------------------------------------------------------------------------------------------
# signature and apps
# ------------------------------------------------------------------------------------------------


def test_signature_errors(server: ServerProcess, client: Client, other_client: Client) -> None:
    payload = {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY"}
    good = client.envelope(payload)
    cases = [
        ({**good, "sign": good["sign"].upper()}, "sign error"),  # case-sensitive
        ({**good, "sign": good["sign"][:-2] + ("B=" if good["sign"][-2] == "A" else "A=")}, "sign error"),
        ({**good, "payload": {**payload, "keyspec": "EH_AES_GCM_128"}}, "sign error"),  # payload changed
        ({**good, "nonce": "added"}, "sign error"),
        ({**good, "appid": other_client.appid}, "sign error"),  # another app's appid, this app's key
        ({**good, "appid": str(uuid.uuid4())}, "appid not found"),
    ]
    for body, message in cases:
        assert error(post(server.url, "CreateKey", msgspec.json.encode(body)), client.apikey) == (400, message)
    wrong_key = Client(server.base, client.appid, other_client.apikey, http=HTTP)
    assert wrong_key.request("CreateKey", payload).message == "sign error"
    assert client.list_keys() == [] and other_client.list_keys() == []
    # a rejected request does not enter the replay cache: the genuine one still goes through
    assert envelope_of(post(server.url, "CreateKey", msgspec.json.encode(good)))["code"] == 200


def sdk_sign(apikey: str, appid: str, timestamp: str, payload: dict[str, Any] | None) -> str:
    """The official Python SDK's signing (ehsm utils.prepare_params), reimplemented."""

    def params_sort_str(params: dict[str, Any]) -> str:
        items = filter(lambda it: it[1] is not None, params.items())
        return unquote_plus(urlencode(OrderedDict(sorted(items, key=lambda k: k[0]))))

    params: dict[str, Any] = OrderedDict(appid=appid, timestamp=timestamp)
    if payload is not None:
        params["payload"] = params_sort_str(payload)
    digest = hmac.new(apikey.encode(), params_sort_str(params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_requests_signed_like_the_official_sdk(server: ServerProcess, client: Client) -> None:
    def sdk_call(action: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        timestamp = str(SystemClock().now_ms())
        body: dict[str, Any] = {"appid": client.appid, "timestamp": timestamp}
        if payload is not None:
            body["payload"] = payload
        body["sign"] = sdk_sign(client.apikey, client.appid, timestamp, payload)
        return envelope_of(post(server.url, action, msgspec.json.encode(body)), client.apikey)

    created = sdk_call("CreateKey", {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY"})
    keyid = created["result"]["keyid"]
    special = base64.b64encode(b"\xfb\xff\xfe+/=&% \xe4\xb8\x96").decode()  # base64 text with + / =
    enc = sdk_call("Encrypt", {"keyid": keyid, "plaintext": special, "aad": base64.b64encode(b"??>>").decode()})
    assert enc["code"] == 200
    dec = sdk_call("Decrypt", {"keyid": keyid, "ciphertext": enc["result"]["ciphertext"], "aad": "Pz8+Pg=="})
    assert dec["result"]["plaintext"] == special
    assert sdk_call("ListKey", None)["result"]["list"][0]["keyid"] == keyid
    assert sdk_call("GenerateDataKey", {"keyid": keyid, "keylen": 1024})["code"] == 200


# ------------------------------------------------------------------------------------------------
# timestamps and replay
# ------------------------------------------------------------------------------------------------


def test_replay_is_refused(server: ServerProcess, client: Client) -> None:
    body = signed_body(client, {"keyspec": "EH_SM4_CBC", "origin": "EH_INTERNAL_KEY"})
    assert envelope_of(post(server.url, "CreateKey", body))["code"] == 200
    for path in ("/ehsm", "/ehsm/"):
        assert error(post(server.url, "CreateKey", body, path)) == (400, REPLAYED)
    assert len(client.list_keys()) == 1
    # two different requests in the same millisecond are both accepted (different nonces -> different signs)
    frozen = Client(server.base, client.appid, client.apikey, clock=ManualClock(), http=HTTP)
    first = msgspec.json.encode(frozen.envelope(None, nonce="one"))
    second = msgspec.json.encode(frozen.envelope(None, nonce="two"))
    assert envelope_of(post(server.url, "ListKey", first))["code"] == 200
    assert envelope_of(post(server.url, "ListKey", second))["code"] == 200
    assert error(post(server.url, "ListKey", second)) == (400, REPLAYED)


def test_old_and_future_timestamps(server: ServerProcess, client: Client) -> None:
    for minutes in (-22, 22):
        skew = ManualClock(SystemClock().now_ms() + minutes * 60_000)
        skewed = Client(server.base, client.appid, client.apikey, clock=skew, http=HTTP)
        assert skewed.request("CreateKey", {"keyspec": "EH_AES_GCM_128", "origin": "EH_INTERNAL_KEY"}).message == (
            "Timestamp error"
        )
    assert client.list_keys() == []


def test_timestamp_window_boundaries(manual_server: InProcessServer, manual_client: Client, clock: ManualClock) -> None:
    def call_at(offset_ms: int) -> str:
        skew = ManualClock(clock.now_ms() + offset_ms)
        at = Client(manual_server.base, manual_client.appid, manual_client.apikey, clock=skew, http=HTTP)
        return at.request("ListKey").message

    assert call_at(TEN_MINUTES) == "Timestamp error"
    assert call_at(-TEN_MINUTES) == "Timestamp error"
    assert call_at(TEN_MINUTES - 1) == "successful"
    assert call_at(-(TEN_MINUTES - 1)) == "successful"
    # a request accepted at the edge of the window cannot be replayed later: the window has moved past it
    body = msgspec.json.encode(manual_client.envelope(None))
    assert envelope_of(post(manual_server.url, "ListKey", body))["code"] == 200
    clock.advance(ms=TEN_MINUTES)
    assert error(post(manual_server.url, "ListKey", body)) == (400, "Timestamp error")


def test_no_apikey_in_the_server_log(server: ServerProcess, client: Client) -> None:
    client.create_key("EH_AES_GCM_128")
    client.request("Encrypt", {"keyid": "nope", "plaintext": "@@"})
    assert client.apikey not in server.log()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_http_methods_get_an_envelope_too(server: ServerProcess, method: str) -> None:
    resp = httpx.request(method, f"{server.url}/ehsm?Action=CreateKey", content=b"{}")
    assert resp.status_code == 200
    data = msgspec.json.decode(resp.content)
    assert data["code"] == 400 and "method" in data["message"] and data["result"] == {}
