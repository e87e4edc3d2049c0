"""The AWS KMS door as an adapter: ``POST /`` with SigV4, routed by X-Amz-Target (docs/aws-kms.md)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from pyehsm.http.asgi import ASGIApp
from pyehsm.http.limits import closing_response
from pyehsm.protocols import Wiring
from pyehsm.protocols.awskms.endpoint import AwsKmsEndpoint
from pyehsm.protocols.awskms.ids import DEFAULT_REGION
from pyehsm.protocols.awskms.operations import OPERATIONS

_URL_TOO_LONG = b'{"__type":"ValidationException","message":"The request URL is too long."}'


class AwsKmsAdapter:
    paths = frozenset({"/"})
    # This door records nothing in the replay guard (SigV4 requests may repeat within their window, as on
    # AWS: endpoint.py), so it adds nothing to the guard's floor after a lost replay table.
    replay_window_ms = 0
    url_too_long_response = closing_response(400, "Bad Request", "application/x-amz-json-1.1", _URL_TOO_LONG)

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region

    def __repr__(self) -> str:
        return f"<AwsKmsAdapter region={self.region}>"

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def open(self, wiring: Wiring) -> ASGIApp:
        return AwsKmsEndpoint(
            wiring.services,
            wiring.replay,
            OPERATIONS,
            wiring.audit,
            wiring.max_body_bytes,
            self.region,
            wiring.limiter,
            wiring.observers,
        )


ADAPTER = AwsKmsAdapter()
