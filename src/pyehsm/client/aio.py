"""The asynchronous client: AsyncClient mirrors Client method for method (``await`` each call).

    >>> from pyehsm.client import AsyncClient
    >>> async with await AsyncClient.enroll("http://127.0.0.1:9000/ehsm") as c:
    ...     keyid = await c.create_key("EH_AES_GCM_256")
    ...     await c.decrypt(keyid, await c.encrypt(keyid, b"hello"))
    b'hello'

The methods are written once in :mod:`pyehsm.client.api`; this module is only the transport.
Retries, timeouts and errors behave exactly as in :class:`pyehsm.client.Client`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, TypeVar

import httpx

from pyehsm.client.api import AsyncTransport
from pyehsm.client.base import Exchange, parse_response

T = TypeVar("T")


class AsyncClient(AsyncTransport):
    """Asynchronous client: each method is a coroutine (the methods: :mod:`pyehsm.client.api`)."""

    def _open_http(self, timeout: float | httpx.Timeout, verify: bool | ssl.SSLContext) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, verify=verify)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _perform(self, exchange: Exchange[T]) -> T:
        attempt = 0
        while True:
            try:
                resp = await self._http.request(
                    exchange.method, exchange.url, content=exchange.body(), headers=exchange.headers
                )
            except httpx.HTTPError as exc:
                await asyncio.sleep(self._retry_delay(exchange, exc, attempt))
                attempt += 1
                continue
            return exchange.parse(parse_response(resp.status_code, resp.content))

    @classmethod
    async def enroll(cls, base_url: str, *, admin_token: str | None = None, **kwargs: Any) -> AsyncClient:
        """Enroll a new app (Enroll) and return an AsyncClient holding its credentials.

        >>> c = await AsyncClient.enroll("http://127.0.0.1:9000/ehsm")
        """
        client = cls(base_url, **kwargs)
        await client._perform(client._enroll(admin_token))
        return client
