"""Server logging: plain text or one JSON object per line (--log-format json), in every worker.

The dict is handed to uvicorn, which applies it in each worker process, so pyehsm's own loggers and
uvicorn's share one format. Log records never carry key material, plaintext or apikeys (by design of
the code that logs: messages name ids and outcomes only).
"""

from __future__ import annotations

import json
import logging
from typing import Any

LOG_FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """{"time": ms, "level", "logger", "message"[, "exc_type", "traceback"]} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": int(record.created * 1000),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A logging.config.dictConfig dict for ``fmt`` ("text" | "json") at ``level``."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": _TEXT}
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level.upper()},
        "loggers": {
            name: {"handlers": ["main"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
