"""The SDK's two clients share one description of every request (pyehsm.client.api): the same methods,
arguments and docstrings, one returning results and the other coroutines; requests are built without I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect

import msgspec
import pytest

from pyehsm.client import AsyncClient, Client, NotFoundError
from pyehsm.client import operations as ops
from pyehsm.client.api import Operations
from pyehsm.client.models import Response
from pyehsm.client.operation import operation
from pyehsm.clock import ManualClock
from pyehsm.protocols.ehsm.signing import canonical_string, envelope_params, signature_matches

PUBLIC = sorted(
    {name for cls in Operations.__mro__ for name, value in vars(cls).items() if isinstance(value, operation)}
)  # Operations and its per-area mixins (client/methods/)


def test_every_action_has_one_shared_method() -> None:
    snake = {
        "".join("_" + c.lower() if c.isupper() else c for c in a).lstrip("_")
        for a in (*ops.ALL_ACTIONS, *ops.EXTENSION_ACTIONS, *ops.KEY_AGREEMENT_ACTIONS)
    }
    snake.discard("enroll")  # a classmethod of each client: it makes the client
    assert snake <= set(PUBLIC)
    assert {"request", "call", "post_raw", "get", "run", "list_keys", "delete_all_keys"} <= set(PUBLIC)
    for cls in (Client, AsyncClient):
        assert not any(name in vars(cls) for name in PUBLIC)  # the transports add no method of their own


@pytest.mark.parametrize("name", PUBLIC)
def test_sync_and_async_methods_agree(name: str) -> None:
    sync, aio = getattr(Client("http://127.0.0.1:1/ehsm"), name), getattr(AsyncClient("http://127.0.0.1:1/ehsm"), name)
    assert inspect.signature(sync) == inspect.signature(aio)
    assert "self" not in inspect.signature(sync).parameters
    assert "Exchange" not in str(inspect.signature(sync).return_annotation)
    assert sync.__doc__ == aio.__doc__ and sync.__doc__ and sync.__name__ == name
    assert not inspect.iscoroutinefunction(sync) and inspect.iscoroutinefunction(aio)
    assert next(iter(inspect.signature(getattr(Client, name)).parameters)) == "self"


def test_a_signed_exchange_is_signed_anew_for_every_attempt() -> None:
    client = Client("http://127.0.0.1:1/ehsm/", "app", "the-apikey", clock=ManualClock(1_735_689_600_123))
    exchange = client._exchange(ops.decrypt("k", b"ct"))
    assert (exchange.method, exchange.url, exchange.idempotent) == (
        "POST",
        "http://127.0.0.1:1/ehsm?Action=Decrypt",
        True,
    )
    first, second = (msgspec.json.decode(exchange.body() or b"") for _ in range(2))
    assert first["nonce"] != second["nonce"] and first["sign"] != second["sign"]
    for body in (first, second):
        assert body["payload"] == {"keyid": "k", "ciphertext": "Y3Q="} and "action" not in body
        assert signature_matches("the-apikey", {k: v for k, v in body.items() if k != "sign"}, body["sign"])
    assert exchange.parse(Response(200, "ok", {"plaintext": "aGk="})) == b"hi"
    with pytest.raises(NotFoundError):
        exchange.parse(Response(400, "keyid error", {}))
    assert not client._exchange(ops.create_key("EH_AES_GCM_256")).idempotent


def test_unsigned_and_raw_exchanges() -> None:
    client = Client("http://127.0.0.1:1/ehsm", "app", "key")
    version = client._version()
    assert (version.method, version.url, version.body()) == ("GET", "http://127.0.0.1:1/ehsm/?Action=GetVersion", None)
    assert version.parse(Response(200, "ok", {"version": "1", "git_sha": "x"})).version == "1"
    enroll = client._enroll("the-token")
    assert enroll.headers == {"X-Pyehsm-Admin-Token": "the-token"} and not enroll.idempotent
    enroll.parse(Response(200, "ok", {"appid": "new-app", "apikey": "new-key"}))
    assert (client.appid, client.apikey) == ("new-app", "new-key")
    raw = client._raw("ListKey", b"as is")
    assert (raw.body(), raw.idempotent) == (b"as is", False)


# -- the opt-in signed Action (issue 18 item 4) --------------------------------------------------------------
APPID, APIKEY, NOW = "5d0c6c7a-0b4e-4c47-9a43-42e7a2ef1c31", "the-apikey", 1_735_689_600_123
PAYLOAD = {"keyid": "0b4e", "plaintext": "aGVsbG8=", "aad": "Y3R4"}


def _hmac_b64(message: str) -> str:  # computed here with the standard library, not with pyehsm.protocols.ehsm.signing
    return base64.b64encode(hmac.new(APIKEY.encode(), message.encode(), hashlib.sha256).digest()).decode()


def test_signed_action_envelope_and_canonical_string() -> None:
    client = Client("http://127.0.0.1:1/ehsm", APPID, APIKEY, clock=ManualClock(NOW), sign_action=True)
    body = client.envelope(PAYLOAD, nonce="n0nce", action="Encrypt")
    canonical = (
        f"action=Encrypt&appid={APPID}&nonce=n0nce&payload=aad=Y3R4&keyid=0b4e&plaintext=aGVsbG8=&timestamp={NOW}"
    )
    signed = {"appid": APPID, "timestamp": str(NOW), "nonce": "n0nce", "payload": PAYLOAD, "action": "Encrypt"}
    assert body == {**signed, "sign": _hmac_b64(canonical)}
    assert canonical_string(signed) == canonical
    assert envelope_params(APPID, str(NOW), PAYLOAD, "n0nce", "Encrypt") == signed  # the server's builder too
    assert signature_matches(APIKEY, signed, body["sign"])
    # without the action: exactly today's envelope, as Intel's SDKs sign it
    plain = client.envelope(PAYLOAD, nonce="n0nce")
    assert "action" not in plain
    assert plain["sign"] == _hmac_b64(
        f"appid={APPID}&nonce=n0nce&payload=aad=Y3R4&keyid=0b4e&plaintext=aGVsbG8=&timestamp={NOW}"
    )
    no_payload = client.envelope(None, action="ListKey")
    assert no_payload["sign"] == _hmac_b64(f"action=ListKey&appid={APPID}&timestamp={NOW}")


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_sign_action_is_opt_in_and_matches_the_query(cls: type[Client] | type[AsyncClient]) -> None:
    default = cls("http://127.0.0.1:1/ehsm", APPID, APIKEY)
    assert default.sign_action is False
    assert "action" not in msgspec.json.decode(default._exchange(ops.encrypt("k", b"x")).body() or b"")
    opted = cls("http://127.0.0.1:1/ehsm", APPID, APIKEY, sign_action=True)
    for call in (ops.encrypt("k", b"x"), ops.list_key(), ops.delete_all_key(), ops.create_secret("s", "v")):
        exchange = opted._exchange(call)
        body = msgspec.json.decode(exchange.body() or b"")
        assert exchange.url.endswith(f"?Action={call.action}") and body["action"] == call.action
        assert signature_matches(APIKEY, {k: v for k, v in body.items() if k != "sign"}, body["sign"])
        assert not signature_matches(
            APIKEY, {k: v for k, v in body.items() if k not in ("sign", "action")}, body["sign"]
        )
    assert opted._version().body() is None  # unsigned GETs carry no envelope at all
