"""build_app(settings) -> ASGI app. The only place that wires objects together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pyehsm.actions.registry import load_actions
from pyehsm.audit import AuditLog
from pyehsm.clock import Clock, SystemClock
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.http.routes import EhsmEndpoint, Receive, Scope, Send
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.keyring import Keyring
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.keyring.root import RootKeyProvider, root_provider_from_spec
from pyehsm.services.apps import AppService, EnrollPolicy
from pyehsm.services.container import Services
from pyehsm.services.crypto import SymmetricService
from pyehsm.services.keys import KeyService
from pyehsm.store.base import ReplayGuard, Store
from pyehsm.store.sqlite import SqliteReplayGuard, SqliteStore
from pyehsm.version import VERSION, git_sha

log = logging.getLogger("pyehsm")

REPLAY_PURGE_SECONDS = 60.0


def open_store(settings: Settings) -> Store:
    if not settings.store or settings.store.startswith("sqlite:"):
        path = Path(settings.store.removeprefix("sqlite:")) if settings.store else settings.sqlite_path
        return SqliteStore(path)
    raise StartupError(f"unsupported store {settings.store!r}")


def open_replay_guard(settings: Settings, store: Store) -> ReplayGuard:
    return SqliteReplayGuard(settings.replay_path, settings.replay_retention_ms)


@dataclass
class Runtime:
    """Everything a running node holds; built at startup, closed at shutdown."""

    settings: Settings
    store: Store
    root: RootKeyProvider
    keyring: Keyring
    pool: KeyPairPool
    replay: ReplayGuard
    services: Services
    endpoint: EhsmEndpoint
    audit: AuditLog
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.pool.stop()
        await self.replay.close()
        await self.store.close()
        self.audit.close()


async def open_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = root_provider_from_spec(settings.root_key_spec)
    store = open_store(settings)
    await store.open()
    try:
        keyring = await open_keyring(store, root, settings.key_cache_entries)
    except BaseException:
        await store.close()
        raise
    pool = KeyPairPool(settings.pool_depth)
    apps = AppService(store, keyring, clock, EnrollPolicy(settings.effective_enroll_policy), settings.admin_token)
    keys = KeyService(store, keyring, pool, clock)
    services = Services(
        clock=clock,
        keyring=keyring,
        apps=apps,
        keys=keys,
        symmetric=SymmetricService(keys),
        version=VERSION,
        git_sha=git_sha(),
    )
    replay = open_replay_guard(settings, store)
    audit = AuditLog(settings.audit_log)
    endpoint = EhsmEndpoint(services, replay, load_actions(), audit, settings.max_body_bytes)
    runtime = Runtime(settings, store, root, keyring, pool, replay, services, endpoint, audit)
    pool.start()
    runtime.tasks.append(asyncio.create_task(_purge_replay_forever(replay, clock)))
    return runtime


async def _purge_replay_forever(replay: ReplayGuard, clock: Clock) -> None:
    while True:
        await asyncio.sleep(REPLAY_PURGE_SECONDS)
        try:
            await replay.purge(clock.now_ms())
        except Exception:
            log.exception("replay purge failed")


async def prepare(settings: Settings) -> None:
    """First-start work done once before workers start: data dir, root key, schema, domain key."""
    runtime_store = open_store(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = root_provider_from_spec(settings.root_key_spec)
    await runtime_store.open()
    try:
        await open_keyring(runtime_store, root)
    finally:
        await runtime_store.close()


class _Holder:
    """The running node's Runtime; set by the lifespan. Called as the /ehsm ASGI app."""

    runtime: Runtime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        if runtime is None:  # pragma: no cover - lifespan always runs first under uvicorn
            raise RuntimeError("pyehsm is not started")
        await runtime.endpoint(scope, receive, send)


def build_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    holder = _Holder()
    ehsm = holder

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        runtime = holder.runtime
        ready = False
        if runtime is not None:
            try:
                ready = await runtime.store.ping() and runtime.keyring.active_dk_id > 0
            except Exception:
                ready = False
        return JSONResponse({"status": "ready" if ready else "unavailable"}, status_code=200 if ready else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        holder.runtime = await open_runtime(settings, clock)
        try:
            yield
        finally:
            await holder.runtime.close()
            holder.runtime = None

    routes = [
        Route("/ehsm", ehsm, methods=["GET", "POST"]),
        Route("/ehsm/", ehsm, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.holder = holder
    return app


def create_app() -> Starlette:
    """uvicorn factory for worker processes: settings come from the environment."""
    return build_app(Settings.from_env())
