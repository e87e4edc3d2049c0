"""Every public method of the SDK, written once for both clients.

A method here describes its request as an :class:`~pyehsm.client.base.Exchange` (no I/O); the
:func:`operation` decorator turns it into a method of :class:`pyehsm.client.Client` that returns the
parsed answer, and into a coroutine method of :class:`pyehsm.client.AsyncClient` that does the same.
Each transport implements only ``_perform`` (send, retry, parse), so both clients share one source of
truth for payloads, answers and errors, and type checkers see every method's full signature:

    >>> Client(url, appid, apikey).encrypt       # (keyid: str, plaintext: bytes, aad: bytes | None = ...) -> bytes
    >>> AsyncClient(url, appid, apikey).encrypt  # the same arguments -> Coroutine[Any, Any, bytes]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ParamSpec, TypeVar

import httpx

from pyehsm.client import operations as ops
from pyehsm.client.base import Exchange, H
from pyehsm.client.methods.asymmetric import AsymmetricMethods
from pyehsm.client.methods.attestation import AttestationMethods
from pyehsm.client.methods.byok import ByokMethods
from pyehsm.client.methods.keys import KeyMethods
from pyehsm.client.methods.release import ReleaseMethods
from pyehsm.client.methods.rotation import RotationMethods
from pyehsm.client.methods.secrets import SecretMethods
from pyehsm.client.methods.symmetric import SymmetricMethods
from pyehsm.client.models import (
    Response,
    VersionInfo,
)
from pyehsm.client.operation import operation

P = ParamSpec("P")
T = TypeVar("T")


class Operations(
    KeyMethods[H],
    RotationMethods[H],
    SymmetricMethods[H],
    AsymmetricMethods[H],
    ByokMethods[H],
    AttestationMethods[H],
    SecretMethods[H],
    ReleaseMethods[H],
):
    """One method per eHSM Action plus the lower-level calls; see :class:`pyehsm.client.Client`. The
    Actions' methods live in client/methods/<area>.py, one mixin per area."""

    # -- lower level ----------------------------------------------------------------------------------
    @operation
    def post_raw(self, action: str, body: bytes | dict[str, Any]) -> Exchange[Response]:
        """POST a prepared body (bytes or an envelope dict) as is and parse the answer envelope.

        Re-sent only when the first try never left this machine.

            >>> c.post_raw("ListKey", c.envelope(None)).code
            200
        """
        return self._raw(action, body)

    @operation
    def request(self, action: str, payload: dict[str, Any] | None = None) -> Exchange[Response]:
        """Sign and send one request (re-signed on each retry); never raises for an error code.

        >>> c.request("DeleteKey", {"keyid": "nope"}).message
        'keyid error'
        """
        return self._signed(action, payload)

    @operation
    def call(self, action: str, payload: dict[str, Any] | None = None) -> Exchange[dict[str, Any]]:
        """Sign and send one request; return ``result`` or raise the matching EhsmApiError subclass.

        >>> c.call("GetPublicKey", {"keyid": keyid})["pubkey"][:26]
        '-----BEGIN PUBLIC KEY-----'
        """
        return self._signed(action, payload).map(Response.raise_for_code)

    @operation
    def get(self, action: str, headers: dict[str, str] | None = None) -> Exchange[Response]:
        """An unsigned GET (GetVersion, Enroll).

        >>> c.get("GetVersion").result["version"]
        '0.1.0'
        """
        return self._unsigned_get(action, headers)

    @operation
    def run(self, call: ops.Call[T]) -> Exchange[T]:
        """Send a prepared :class:`pyehsm.client.operations.Call` and parse its result.

        >>> c.run(ops.list_key())
        [KeyInfo(keyid='...', ...)]
        """
        return self._exchange(call)

    # -- apps -----------------------------------------------------------------------------------------
    @operation
    def get_version(self) -> Exchange[VersionInfo]:
        """GetVersion: the server's version and build id.

        >>> c.get_version().version
        '0.1.0'
        """
        return self._version()


class SyncTransport(Operations[httpx.Client], ABC):
    """A client whose methods return their results (:class:`pyehsm.client.Client`)."""

    @abstractmethod
    def _perform(self, exchange: Exchange[T]) -> T:
        """Send ``exchange`` (retrying as :class:`~pyehsm.client.base.RetryPolicy` allows), parse the answer."""


class AsyncTransport(Operations[httpx.AsyncClient], ABC):
    """A client whose methods are coroutines (:class:`pyehsm.client.AsyncClient`)."""

    @abstractmethod
    async def _perform(self, exchange: Exchange[T]) -> T:
        """Send ``exchange`` (retrying as :class:`~pyehsm.client.base.RetryPolicy` allows), parse the answer."""
