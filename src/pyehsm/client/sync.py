"""A synchronous client that signs requests exactly as the official eHSM SDKs do.

    >>> from pyehsm.client import Client
    >>> c = Client.enroll("http://127.0.0.1:9000/ehsm")
    >>> keyid = c.create_key("EH_AES_GCM_256")
    >>> c.decrypt(keyid, c.encrypt(keyid, b"hello")) == b"hello"
    True
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from pyehsm.clock import Clock, SystemClock
from pyehsm.http.signing import sign_request


class EhsmApiError(Exception):
    """The server answered with a code other than 200."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Response:
    code: int
    message: str
    result: dict[str, Any]

    def raise_for_code(self) -> dict[str, Any]:
        if self.code != 200:
            raise EhsmApiError(self.code, self.message)
        return self.result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class Client:
    def __init__(
        self,
        base_url: str,
        appid: str = "",
        apikey: str = "",
        *,
        clock: Clock | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        """``base_url`` ends in /ehsm, e.g. http://127.0.0.1:9000/ehsm."""
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.apikey = apikey
        self.clock = clock or SystemClock()
        self._http = http or httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"<Client {self.base_url} appid={self.appid}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------
    def envelope(self, payload: dict[str, Any] | None, *, nonce: str | None = None) -> dict[str, Any]:
        """A signed request envelope for ``payload`` (None: no payload field at all)."""
        timestamp = str(self.clock.now_ms())
        body: dict[str, Any] = {"appid": self.appid, "timestamp": timestamp}
        if nonce is not None:
            body["nonce"] = nonce
        if payload is not None:
            body["payload"] = payload
        body["sign"] = sign_request(self.apikey, self.appid, timestamp, payload, nonce)
        return body

    def post_raw(self, action: str, body: bytes | dict[str, Any]) -> Response:
        """POST a prepared body (bytes or an envelope dict) and parse the response envelope."""
        content = body if isinstance(body, bytes) else msgspec.json.encode(body)
        resp = self._http.post(
            f"{self.base_url}?Action={action}", content=content, headers={"Content-Type": "application/json"}
        )
        resp.raise_for_status()
        data = msgspec.json.decode(resp.content)
        return Response(int(data["code"]), str(data["message"]), dict(data["result"]))

    def request(self, action: str, payload: dict[str, Any] | None = None) -> Response:
        """Sign and send one request; never raises for an error code."""
        return self.post_raw(action, self.envelope(payload))

    def call(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send one request; return ``result`` or raise EhsmApiError."""
        return self.request(action, payload).raise_for_code()

    def get(self, action: str, headers: dict[str, str] | None = None) -> Response:
        resp = self._http.get(f"{self.base_url}/?Action={action}", headers=headers or {})
        resp.raise_for_status()
        data = msgspec.json.decode(resp.content)
        return Response(int(data["code"]), str(data["message"]), dict(data["result"]))

    # -- apps -------------------------------------------------------------------------------------
    @classmethod
    def enroll(cls, base_url: str, *, admin_token: str | None = None, **kwargs: Any) -> Client:
        """Enroll a new app and return a client holding its credentials."""
        client = cls(base_url, **kwargs)
        headers = {"X-Pyehsm-Admin-Token": admin_token} if admin_token else None
        result = client.get("Enroll", headers).raise_for_code()
        client.appid, client.apikey = result["appid"], result["apikey"]
        return client

    def get_version(self) -> dict[str, Any]:
        return self.get("GetVersion").raise_for_code()

    # -- keys -------------------------------------------------------------------------------------
    def create_key(self, keyspec: str, origin: str = "EH_INTERNAL_KEY", keyusage: str | None = None) -> str:
        payload = {"keyspec": keyspec, "origin": origin}
        if keyusage:
            payload["keyusage"] = keyusage
        return str(self.call("CreateKey", payload)["keyid"])

    def list_keys(self) -> list[dict[str, Any]]:
        return list(self.call("ListKey")["list"])

    def enable_key(self, keyid: str) -> None:
        self.call("EnableKey", {"keyid": keyid})

    def disable_key(self, keyid: str) -> None:
        self.call("DisableKey", {"keyid": keyid})

    def delete_key(self, keyid: str) -> None:
        self.call("DeleteKey", {"keyid": keyid})

    def delete_all_keys(self) -> None:
        self.call("DeleteAllKey")

    # -- symmetric crypto and data keys --------------------------------------------------------------
    def encrypt(self, keyid: str, plaintext: bytes, aad: bytes | None = None) -> bytes:
        payload = {"keyid": keyid, "plaintext": _b64(plaintext)}
        if aad:
            payload["aad"] = _b64(aad)
        return _unb64(self.call("Encrypt", payload)["ciphertext"])

    def decrypt(self, keyid: str, ciphertext: bytes, aad: bytes | None = None) -> bytes:
        payload = {"keyid": keyid, "ciphertext": _b64(ciphertext)}
        if aad:
            payload["aad"] = _b64(aad)
        return _unb64(self.call("Decrypt", payload)["plaintext"])

    def generate_data_key(self, keyid: str, keylen: int, aad: bytes | None = None) -> tuple[bytes, bytes]:
        payload: dict[str, Any] = {"keyid": keyid, "keylen": keylen}
        if aad:
            payload["aad"] = _b64(aad)
        result = self.call("GenerateDataKey", payload)
        return _unb64(result["plaintext"]), _unb64(result["ciphertext"])

    def generate_data_key_without_plaintext(self, keyid: str, keylen: int, aad: bytes | None = None) -> bytes:
        payload: dict[str, Any] = {"keyid": keyid, "keylen": keylen}
        if aad:
            payload["aad"] = _b64(aad)
        return _unb64(self.call("GenerateDataKeyWithoutPlaintext", payload)["ciphertext"])
