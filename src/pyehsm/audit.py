"""The audit log: one JSON line per request; never payload values, keys or secrets."""

from __future__ import annotations

import logging
import sys
from typing import IO

import msgspec

_encoder = msgspec.json.Encoder()


class AuditLog:
    def __init__(self, target: str) -> None:
        """``target``: "" off, "-" stdout, else a file path (appended; rotate with the usual tools)."""
        self._stream: IO[bytes] | None = None
        if target == "-":
            self._stream = sys.stdout.buffer
        elif target:
            self._stream = open(target, "ab", buffering=0)  # noqa: SIM115 - lives as long as the app

    def __repr__(self) -> str:
        return "<AuditLog>"

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def record(
        self,
        *,
        time_ms: int,
        request_id: str,
        appid: str,
        action: str,
        keyid: str | None,
        code: int,
        latency_us: int,
    ) -> None:
        if self._stream is None:
            return
        line = _encoder.encode(
            {
                "time": time_ms,
                "request_id": request_id,
                "appid": appid,
                "action": action,
                "keyid": keyid,
                "code": code,
                "latency_us": latency_us,
            }
        )
        try:
            self._stream.write(line + b"\n")
        except OSError:
            logging.getLogger(__name__).warning("audit log write failed")

    def close(self) -> None:
        if self._stream is not None and self._stream is not sys.stdout.buffer:
            self._stream.close()
        self._stream = None
