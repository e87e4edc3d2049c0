"""The synchronous client: one typed method per eHSM Action, signed exactly as the official SDKs do.

    >>> from pyehsm.client import Client
    >>> c = Client.enroll("http://127.0.0.1:9000/ehsm")
    >>> keyid = c.create_key("EH_AES_GCM_256")
    >>> c.decrypt(keyid, c.encrypt(keyid, b"hello")) == b"hello"
    True

The methods are written once in :mod:`pyehsm.client.api`; this module is only the transport.
Errors raise a subclass of :class:`EhsmApiError` (see :mod:`pyehsm.client.errors`); a server that
cannot be reached raises :class:`EhsmConnectionError` after the retries :class:`RetryPolicy` allows.
"""

from __future__ import annotations

import ssl
import time
from typing import Any, TypeVar

import httpx

from pyehsm.client.api import SyncTransport
from pyehsm.client.base import Exchange, parse_response
from pyehsm.client.errors import EhsmApiError
from pyehsm.client.models import Response

T = TypeVar("T")

__all__ = ["Client", "EhsmApiError", "Response"]


class Client(SyncTransport):
    """Synchronous client: each method returns its result (the methods: :mod:`pyehsm.client.api`)."""

    def _open_http(self, timeout: float | httpx.Timeout, verify: bool | ssl.SSLContext) -> httpx.Client:
        return httpx.Client(timeout=timeout, verify=verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _perform(self, exchange: Exchange[T]) -> T:
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    exchange.method, exchange.url, content=exchange.body(), headers=exchange.headers
                )
            except httpx.HTTPError as exc:
                time.sleep(self._retry_delay(exchange, exc, attempt))
                attempt += 1
                continue
            return exchange.parse(parse_response(resp.status_code, resp.content))

    @classmethod
    def enroll(cls, base_url: str, *, admin_token: str | None = None, **kwargs: Any) -> Client:
        """Enroll a new app (Enroll) and return a client holding its credentials.

        Never retried once sent (a second Enroll would create a second app).

            >>> c = Client.enroll("http://127.0.0.1:9000/ehsm", admin_token=None)
        """
        client = cls(base_url, **kwargs)
        client._perform(client._enroll(admin_token))
        return client
