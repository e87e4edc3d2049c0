"""How a node's audit trail behaves (``TrailPolicy``: mode, checkpoints, rotation, name hashing, trusted
proxies) and how it records a client's address (``Peer``); docs/audit.md."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

BEST_EFFORT = "best-effort"
REQUIRED = "required"
MODES = (BEST_EFFORT, REQUIRED)


@dataclass(frozen=True, slots=True)
class TrailPolicy:
    mode: str = BEST_EFFORT
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 60.0
    rotate_bytes: int = 0  # 0: never by size
    rotate_seconds: float = 0.0  # 0: never by time
    hash_names: bool = False
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is recorded


class Peer:
    """Client address and forwarded-for, as recorded (forwarded-for only from a trusted proxy)."""

    def __init__(self, trusted: Sequence[str]) -> None:
        self._nets = [ipaddress.ip_network(c, strict=False) for c in trusted]
        self.trusted = bool(self._nets)  # whether X-Forwarded-For can matter at all

    def __repr__(self) -> str:
        return f"<Peer trusted={len(self._nets)}>"

    def resolve(self, client: object, forwarded: str | None) -> tuple[str | None, str | None]:
        host = client[0] if isinstance(client, tuple | list) and client else None
        if not isinstance(host, str):
            return None, None
        if forwarded is None or not self._nets:
            return host, None
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return host, None
        if any(addr in net for net in self._nets):
            return host, forwarded[:256]
        return host, None


DEFAULT_POLICY = TrailPolicy()
