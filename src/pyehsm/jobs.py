"""The node's periodic maintenance: each job is a coroutine function run every ``interval_seconds``; a
failing run is logged and the next run happens on schedule. Every job here is safe on every node (each
service makes its own sweep idempotent: a due key is deleted or rotated by exactly one node)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("pyehsm")


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str  # the task's name, and the log's "<what> failed"
    what: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


async def run_every(job: PeriodicJob) -> None:
    while True:
        await asyncio.sleep(job.interval_seconds)
        try:
            await job.run()
        except Exception:
            log.exception("%s failed", job.what)


def start(jobs: list[PeriodicJob]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(run_every(job), name=job.name) for job in jobs]
