"""build_app(settings) -> ASGI app. The only place that wires objects together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pyehsm import jobs
from pyehsm.audit import AuditTrail, TrailPolicy, default_node_id, open_trail
from pyehsm.clock import Clock, SystemClock
from pyehsm.config import Settings
from pyehsm.http.asgi import ASGIApp, Receive, Scope, Send
from pyehsm.http.limits import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_SIZE, HttpLimits
from pyehsm.http.protocol import uvicorn_options
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.domain_key_rotation import DomainKeyRotation, maintain_forever
from pyehsm.keyring.keyring import Keyring
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.keyring.root import RootKeyProvider, root_provider_from_spec
from pyehsm.metrics import CONTENT_TYPE_LATEST, Metrics, refresh_forever
from pyehsm.protocols import Adapter, Wiring
from pyehsm.protocols.awskms.adapter import ADAPTER as AWSKMS
from pyehsm.protocols.awskms.adapter import AwsKmsAdapter
from pyehsm.protocols.ehsm.adapter import ADAPTER as EHSM
from pyehsm.services.apps import AppService, EnrollPolicy
from pyehsm.services.asymmetric import AsymmetricService
from pyehsm.services.attestation_setup import AttestationOptions, open_attestation
from pyehsm.services.batch import BatchService
from pyehsm.services.byok import ByokService
from pyehsm.services.container import Services
from pyehsm.services.key_metadata import KeyMetadataService
from pyehsm.services.keys import KeyService
from pyehsm.services.mac import MacService, RandomService
from pyehsm.services.release import ReleaseService
from pyehsm.services.release_gate import ReleaseGate
from pyehsm.services.release_policies import ReleasePolicyService
from pyehsm.services.rotation import RotationService
from pyehsm.services.secrets import SecretService
from pyehsm.services.symmetric import SymmetricService
from pyehsm.storage import coherent_cache, open_replay_guard, open_store
from pyehsm.store.base import ReplayGuard, Store
from pyehsm.store.mapped_replay import MappedReplayGuard
from pyehsm.version import VERSION, git_sha

if TYPE_CHECKING:
    pass

log = logging.getLogger("pyehsm")

REPLAY_PURGE_SECONDS = 60.0

# The wire protocols this node answers, one line each (docs/architecture.md).
ADAPTERS: tuple[Adapter, ...] = (EHSM, AWSKMS)
# A replay table created while apps exist refuses requests this far ahead (the widest door's timestamp window)
REPLAY_FLOOR_WINDOW_MS = max(a.replay_window_ms for a in ADAPTERS)


def configured_adapters(settings: Settings) -> tuple[Adapter, ...]:
    """ADAPTERS as this node's settings shape them: the AWS door names ``settings.aws_region`` in its ARNs."""
    return tuple(AwsKmsAdapter(settings.aws_region) if a is AWSKMS else a for a in ADAPTERS)


def http_limits(
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> HttpLimits:
    """The listener's connection guards; a request line over the limit is answered by the first adapter."""
    return HttpLimits(max_header_size, header_timeout, max_connections, ADAPTERS[0].url_too_long_response)


# What every pyehsm server passes to uvicorn (`pyehsm serve` passes uvicorn_options(http_limits(...))).
UVICORN_OPTIONS = uvicorn_options(http_limits())


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
    doors: dict[str, ASGIApp]  # URL path -> the endpoint of the adapter that answers it
    audit: AuditTrail
    limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    rotation: DomainKeyRotation | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.pool.stop()
        await self.services.attestation.aclose()
        await self.replay.close()
        await self.store.close()
        await self.audit.aclose()
        if self.metrics is not None:
            self.metrics.close()
        self.root.close()


async def _open_audit_trail(settings: Settings, store: Store, keyring: Keyring, clock: Clock) -> AuditTrail:
    """The trail of a serving process (docs/audit.md): with --workers N each worker keeps its own chain, in
    ``<target>.w<pid>`` under node id ``<node>.<pid>``."""
    target, node = settings.audit_log, settings.audit_node_id or default_node_id()
    if settings.workers > 1 and target:
        node = f"{node}.{os.getpid()}"
        if target != "-":
            target = f"{target}.w{os.getpid()}"
    policy = TrailPolicy(
        mode=settings.audit_mode,
        checkpoint_every=settings.audit_checkpoint_records,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        rotate_bytes=settings.audit_rotate_bytes,
        rotate_seconds=settings.audit_rotate_seconds,
        hash_names=settings.audit_hash_names,
        trusted_proxies=settings.trusted_proxies,
    )
    return await open_trail(target, store, keyring, clock, node=node, policy=policy)


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
        root.close()
        raise
    rotation = DomainKeyRotation(store, root, keyring, clock)  # reads only wrapped values: nothing cached
    store, watcher = await coherent_cache(settings, store, keyring, clock)
    pool = KeyPairPool(settings.pool_depth)
    apps = AppService(store, keyring, clock, EnrollPolicy(settings.effective_enroll_policy), settings.admin_token)
    keys = KeyService(store, keyring, pool, clock)
    symmetric = SymmetricService(keys)
    secrets = SecretService(store, keyring, symmetric, clock)
    asymmetric = AsymmetricService(keys, symmetric, pool)
    attestation = open_attestation(_attestation_options(settings), store, clock)
    gate = ReleaseGate(store, attestation, clock)
    services = Services(
        clock=clock,
        keyring=keyring,
        apps=apps,
        keys=keys,
        symmetric=symmetric,
        secrets=secrets,
        asymmetric=asymmetric,
        attestation=attestation,
        byok=ByokService(store, keyring, keys, pool, clock),
        mac=MacService(keys),
        random=RandomService(),
        batch=BatchService(symmetric, asymmetric),
        version=VERSION,
        git_sha=git_sha(),
        key_metadata=KeyMetadataService(store, keys, keyring, clock),
        rotation=RotationService(store, keyring, keys, symmetric, asymmetric, pool, clock),
        release_gate=gate,
        release=ReleaseService(gate, keys, symmetric, asymmetric, secrets),
        release_policies=ReleasePolicyService(store, keys, gate, clock),
    )
    replay = await open_replay_guard(settings, store, clock, REPLAY_FLOOR_WINDOW_MS)
    audit = await _open_audit_trail(settings, store, keyring, clock)
    rate, burst = settings.effective_rate_limit
    limiter = RateLimiter(rate, burst, clock) if rate > 0 else None
    wiring = Wiring(services, replay, audit, settings.max_body_bytes, limiter)
    doors = {
        path: door
        for adapter in configured_adapters(settings)
        for door in (adapter.open(wiring),)
        for path in adapter.paths
    }
    runtime = Runtime(
        settings, store, root, keyring, pool, replay, services, doors, audit, limiter=limiter, rotation=rotation
    )
    if settings.metrics:
        runtime.metrics = Metrics(
            clock,
            keyring.cache,
            pool,
            replay,
            limiter,
            version=VERSION,
            git_sha=services.git_sha,
            replay_probe=replay.probe_impl if isinstance(replay, MappedReplayGuard) else "",
            replay_capacity=replay.capacity if isinstance(replay, MappedReplayGuard) else 0,
        )
        wiring.observers.append(runtime.metrics.observe)
        if runtime.metrics.multiprocess:
            runtime.tasks.append(asyncio.create_task(refresh_forever(runtime.metrics)))
    if watcher is not None:
        runtime.tasks.append(watcher)
    pool.start()
    if audit.enabled:
        runtime.tasks.append(asyncio.create_task(audit.tick_forever(), name="pyehsm-audit"))
    runtime.tasks.append(asyncio.create_task(maintain_forever(rotation), name="pyehsm-domain-keys"))
    runtime.tasks.extend(jobs.start(_maintenance(settings, services, replay)))
    return runtime


def _attestation_options(settings: Settings) -> AttestationOptions:
    return AttestationOptions(
        pccs_cache_dir=settings.pccs_cache_dir,
        simulation_material_path=settings.simulation_material_path,
        simulation_root_path=settings.simulation_root_path,
        collateral_dir=settings.collateral_dir,
        pccs_url=settings.pccs_url,
        pccs_cache_entries=settings.pccs_cache_entries,
        tcb_allow=settings.tcb_allow,
        quote_provider=settings.quote_provider,
        trust_simulated_roots=settings.trust_simulated_roots,
    )


def _maintenance(settings: Settings, services: Services, replay: ReplayGuard) -> list[jobs.PeriodicJob]:
    """The periodic sweeps; each service reads the injected clock, so tests drive them by calling them."""
    clock = services.clock
    return [
        jobs.PeriodicJob(
            "pyehsm-replay-purge", "replay purge", REPLAY_PURGE_SECONDS, lambda: replay.purge(clock.now_ms())
        ),
        jobs.PeriodicJob(
            "pyehsm-secret-purge", "secret purge", settings.secret_purge_seconds, services.secrets.purge_once
        ),
        jobs.PeriodicJob(
            "pyehsm-key-deletion",
            "scheduled key deletion",
            settings.secret_purge_seconds,
            services.key_metadata.purge_once,
        ),
        jobs.PeriodicJob(
            "pyehsm-import-sweep", "import parameter sweep", settings.import_sweep_seconds, services.byok.purge_once
        ),
        jobs.PeriodicJob(
            "pyehsm-material-expiry",
            "imported material expiry",
            settings.import_sweep_seconds,
            services.byok.expire_material_once,
        ),
        jobs.PeriodicJob(
            "pyehsm-key-rotation",
            "automatic key rotation",
            settings.key_rotation_seconds,
            services.rotation.rotate_due_once,
        ),
    ]


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
        root.close()


class _Holder:
    """The running node's Runtime; set by the lifespan. Called for every path an adapter answers."""

    runtime: Runtime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        if runtime is None:  # pragma: no cover - lifespan always runs first under uvicorn
            raise RuntimeError("pyehsm is not started")
        await runtime.doors[scope["path"]](scope, receive, send)


_DOOR_PATHS = frozenset(path for adapter in ADAPTERS for path in adapter.paths)


class PyehsmApp(Starlette):
    """Starlette, with each adapter's hot path (eHSM: /ehsm) handed straight to its endpoint: that
    endpoint answers every request itself (errors included, in its protocol's form), so the router and
    the error middleware add nothing there but calls. Every method reaches it. Every other path and the
    lifespan go through Starlette as usual."""

    doors: _Holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in _DOOR_PATHS:
            await self.doors(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def build_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    holder = _Holder()

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
        # Long-lived start-up objects leave the collector's view, so full collections under load stay short.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await holder.runtime.close()
            holder.runtime = None

    async def metrics(_: Request) -> Response:
        runtime = holder.runtime
        if runtime is None or runtime.metrics is None:
            return Response(b"metrics are off\n", status_code=404, media_type="text/plain")
        return Response(await runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        *(route for adapter in ADAPTERS for route in adapter.routes()),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    app = PyehsmApp(routes=routes, lifespan=lifespan)
    app.doors = holder
    app.state.holder = holder
    return app


def create_app() -> Starlette:
    """uvicorn factory for worker processes: settings come from the environment."""
    return build_app(Settings.from_env())
