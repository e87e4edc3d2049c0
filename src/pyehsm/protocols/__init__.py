"""Wire protocols: one package per protocol (a "door"), each an adapter over the same services.

An adapter turns its protocol's requests into service calls, and the services' domain errors
(``pyehsm.errors``) into its own codes and messages. ``app.py`` mounts every adapter of its
``ADAPTERS`` on the one listener: adding a protocol is a new package here and one line there.
Nothing below (services, crypto, keyring, store) imports a protocol package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from starlette.routing import BaseRoute

from pyehsm.audit import AuditTrail
from pyehsm.http.asgi import ASGIApp
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.services.container import Services
from pyehsm.store.base import ReplayGuard

Observer = Callable[[str, int, float], None]  # (operation, code, seconds) -> None


@dataclass(slots=True)
class Wiring:
    """What the app hands every door when the node starts: the services and the shared request guards."""

    services: Services
    replay: ReplayGuard
    audit: AuditTrail
    max_body_bytes: int
    limiter: RateLimiter | None = None
    observers: list[Observer] = field(default_factory=list)


class Adapter(Protocol):
    """One wire protocol."""

    @property
    def paths(self) -> frozenset[str]:
        """The URL paths whose requests this door answers itself (the hot path, raw ASGI)."""

    @property
    def replay_window_ms(self) -> int:
        """How far a request's timestamp may be from now (the replay table must cover it)."""

    @property
    def url_too_long_response(self) -> bytes:
        """The whole HTTP response to a request line over the header limit, when this door is the first."""

    def routes(self) -> Sequence[BaseRoute]:
        """Documents the door serves beside its endpoint (they need no running node)."""

    def open(self, wiring: Wiring) -> ASGIApp:
        """The door's endpoint for a started node."""
