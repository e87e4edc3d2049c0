"""The eHSM door as an adapter: ``/ehsm`` routed by ``?Action=``, and its ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pyehsm.http.asgi import ASGIApp
from pyehsm.http.limits import closing_response
from pyehsm.protocols import Wiring
from pyehsm.protocols.ehsm.endpoint import EhsmEndpoint
from pyehsm.protocols.ehsm.envelope import TIMESTAMP_WINDOW_MS, render
from pyehsm.protocols.ehsm.openapi import render_openapi
from pyehsm.protocols.ehsm.table import ACTIONS

URL_TOO_LONG = "Parameter invalid, The request URL is too long."


class EhsmAdapter:
    paths = frozenset({"/ehsm", "/ehsm/"})
    replay_window_ms = TIMESTAMP_WINDOW_MS
    # The URL names the Action: an over-long one is answered like any bad parameter (docs/protocol.md 1).
    url_too_long_response = closing_response(200, "OK", "application/json", render(400, URL_TOO_LONG, {}))

    def __init__(self) -> None:
        self._openapi: bytes | None = None

    def __repr__(self) -> str:
        return "<EhsmAdapter>"

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/openapi.json", self._serve_openapi)]

    def open(self, wiring: Wiring) -> ASGIApp:
        return EhsmEndpoint(
            wiring.services,
            wiring.replay,
            ACTIONS,
            wiring.audit,
            wiring.max_body_bytes,
            wiring.limiter,
            wiring.observers,
        )

    async def _serve_openapi(self, _: Request) -> Response:
        if self._openapi is None:
            self._openapi = render_openapi(ACTIONS).encode()
        return Response(self._openapi, media_type="application/json")


ADAPTER = EhsmAdapter()
