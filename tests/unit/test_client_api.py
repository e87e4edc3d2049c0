"""The SDK's two clients share one description of every request (pyehsm.client.api): the same methods,
arguments and docstrings, one returning results and the other coroutines; requests are built without I/O."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from pyehsm.client import AsyncClient, Client, NotFoundError
from pyehsm.client import operations as ops
from pyehsm.client.api import Operations, operation
from pyehsm.client.models import Response
from pyehsm.clock import ManualClock
from pyehsm.signing import signature_matches

PUBLIC = sorted(name for name, value in vars(Operations).items() if isinstance(value, operation))


def test_every_action_has_one_shared_method() -> None:
    snake = {"".join("_" + c.lower() if c.isupper() else c for c in a).lstrip("_") for a in ops.ALL_ACTIONS}
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
