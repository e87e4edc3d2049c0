"""Online domain-key rotation: DK n+1 is created, made active, and every DK-wrapped value re-wrapped.

Phases, recorded in meta ``dk.rotation`` (JSON) so any process can resume them after a crash:

``prepared``
    DK n+1 exists (wrapped by the root key) but is not active. Every node loads new domain keys
    within REFRESH_SECONDS (``DomainKeyRotation.refresh``), so once ``propagation_ms`` have passed
    every node can unwrap values wrapped under DK n+1 before anyone writes one.
``rewrapping``
    ``dk.active`` is n+1: new values are wrapped under it. Re-wrap passes walk every DK-wrapped
    column (store.base.WRAPPED_KINDS) in key order, in batches, picking the rows whose wrapped header
    names an older DK (Keyring.dk_id_prefix): unwrap, wrap under DK n+1, and compare-and-swap the row
    (``UPDATE ... SET col = new WHERE key = ? AND col = old``). A batch is idempotent: a crash loses
    at most one uncommitted batch, and the next pass finds the rows still under the old DK. Several
    nodes may run passes at once; a row changed by another node is simply skipped.
``done``
    A complete pass started at least ``propagation_ms`` after activation (when every node wraps
    under DK n+1) has re-wrapped everything older. Older domain keys stay in meta (wrapped by the root
    key) so a value written by a lagging node is never lost; ``pyehsm domain-key status`` counts values
    per domain key, and ``pyehsm domain-key rotate --resume`` re-runs a pass.

Requests are served throughout: plaintext material never changes, cached primitives stay valid, and
a value under any known domain key unwraps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from pyehsm.clock import Clock
from pyehsm.errors import StartupError
from pyehsm.keyring.domain import ACTIVE_DK, dk_aad, dk_meta_name
from pyehsm.keyring.keyring import (
    AUDIT_HMAC_KEY_AAD,
    AUDIT_HMAC_KEY_META,
    BYOK_TOKEN_KEY_AAD,
    BYOK_TOKEN_KEY_META,
    DK_BYTES,
    Keyring,
    MaterialRef,
    UnwrapError,
    apikey_aad,
    audit_signing_key_aad,
    audit_signing_key_meta,
    import_key_aad,
    secrets_key_aad,
)
from pyehsm.keyring.root import RootKeyProvider
from pyehsm.store.base import WRAPPED_KINDS, Store, WrappedValue

log = logging.getLogger(__name__)

ROTATION_META = "dk.rotation"
REFRESH_SECONDS = 5.0  # how often every node looks for new domain keys and rotation work
# Nodes keep no record in the store of which domain key they use, so a rotation cannot wait for their
# acknowledgements: it waits for their refresh instead. A node sleeps REFRESH_SECONDS *after* its refresh
# and rotation step, so its refreshes are more than REFRESH_SECONDS apart: the shortest propagation delay
# is two intervals (0 stays possible: it says that no other node serves the store).
MIN_PROPAGATION_MS = 2 * int(REFRESH_SECONDS * 1000)
DEFAULT_PROPAGATION_MS = 3 * int(REFRESH_SECONDS * 1000)
DEFAULT_BATCH = 500

# The AAD each DK-wrapped kind binds, from WrappedValue.owner (store.base.WRAPPED_KINDS documents it).
AAD_BUILDERS: dict[str, Callable[[tuple[str, ...]], bytes]] = {
    "cmk": lambda owner: MaterialRef(owner[0], owner[1], int(owner[2]), owner[3]).aad(),
    "apikey": lambda owner: apikey_aad(owner[0]),
    "secrets_key": lambda owner: secrets_key_aad(owner[0], owner[1]),
    "import_key": lambda owner: import_key_aad(owner[0], owner[1], owner[2], owner[3]),
}
# DK-wrapped values kept in the meta table: name -> AAD.
META_WRAPPED: dict[str, bytes] = {BYOK_TOKEN_KEY_META: BYOK_TOKEN_KEY_AAD, AUDIT_HMAC_KEY_META: AUDIT_HMAC_KEY_AAD}


async def meta_wrapped(store: Store) -> dict[str, bytes]:
    """META_WRAPPED plus the series of audit signing keys (audit.signing-key.1, .2, ... up to the first gap)."""
    names = dict(META_WRAPPED)
    n = 1
    while await store.get_meta(audit_signing_key_meta(n)) is not None:
        names[audit_signing_key_meta(n)] = audit_signing_key_aad(n)
        n += 1
    return names


class RotationError(StartupError):
    """A rotation cannot start or continue (one is already running, or another process raced us)."""


@dataclass(frozen=True, slots=True)
class RotationState:
    target: int  # the new domain key
    previous: int  # the domain key that was active before
    phase: str  # "prepared" | "rewrapping" | "done"
    prepared_ms: int
    propagation_ms: int
    activated_ms: int = 0
    finished_ms: int = 0

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> RotationState:
        try:
            return cls(**json.loads(raw.decode()))
        except (TypeError, ValueError):
            raise RotationError("the store's dk.rotation record is malformed") from None


@dataclass(slots=True)
class PassReport:
    """What one re-wrap pass did (counts only)."""

    rewrapped: int = 0
    conflicts: int = 0  # rows another process changed or deleted first
    failed: int = 0  # rows that did not unwrap (tampered, or under a domain key no longer in meta)
    batches: int = 0
    complete: bool = False  # every kind was walked to its end
    per_kind: dict[str, int] = field(default_factory=dict)


async def read_state(store: Store) -> RotationState | None:
    raw = await store.get_meta(ROTATION_META)
    return RotationState.decode(raw) if raw is not None else None


async def wrapped_counts(store: Store) -> dict[str, dict[int, int]]:
    """For each DK-wrapped kind, how many values each domain key id wraps."""
    counts: dict[str, dict[int, int]] = {}
    for kind in WRAPPED_KINDS:
        per_dk: dict[int, int] = {}
        for prefix, n in (await store.count_wrapped(kind)).items():
            dk_id = Keyring.wrapped_dk_id(prefix) if len(prefix) == 5 else -1
            per_dk[dk_id] = per_dk.get(dk_id, 0) + n
        counts[kind] = per_dk
    meta: dict[int, int] = {}
    for name in await meta_wrapped(store):
        value = await store.get_meta(name)
        if value is not None:
            dk_id = Keyring.wrapped_dk_id(value)
            meta[dk_id] = meta.get(dk_id, 0) + 1
    counts["meta"] = meta
    return counts


class DomainKeyRotation:
    """Drives rotations for one process: the server's background task and `pyehsm domain-key rotate`."""

    def __init__(
        self,
        store: Store,
        root: RootKeyProvider,
        keyring: Keyring,
        clock: Clock,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self._store = store
        self._root = root
        self._keyring = keyring
        self._clock = clock
        self.batch_size = batch_size
        self.last_report: PassReport | None = None

    def __repr__(self) -> str:
        return f"<DomainKeyRotation dk={self._keyring.active_dk_id}>"

    # -- keeping this node current ------------------------------------------------------------------
    async def refresh(self) -> None:
        """Load domain keys created elsewhere and follow ``dk.active`` (every node, periodically)."""
        known = self._keyring.domain_key_ids()
        dk_id = max(known) + 1
        while (wrapped := await self._store.get_meta(dk_meta_name(dk_id))) is not None:
            self._keyring.add_domain_key(dk_id, self._root.unwrap(wrapped, dk_aad(dk_id)))
            log.info("loaded domain key %d", dk_id)
            dk_id += 1
        active_raw = await self._store.get_meta(ACTIVE_DK)
        active = int(active_raw.decode()) if active_raw else self._keyring.active_dk_id
        if active > self._keyring.active_dk_id and active in self._keyring.domain_key_ids():
            self._keyring.activate(active)
            log.info("domain key %d is now active", active)

    # -- phases -------------------------------------------------------------------------------------
    async def begin(self, propagation_ms: int = DEFAULT_PROPAGATION_MS) -> RotationState:
        """Create DK n+1 (not active yet) and record the rotation; refuse while one is unfinished.

        ``propagation_ms`` is 0 (no other node serves the store) or at least MIN_PROPAGATION_MS: with less,
        a node still wrapping under DK n when the last re-wrap pass starts leaves values under DK n.
        """
        if 0 < propagation_ms < MIN_PROPAGATION_MS:
            raise RotationError(
                f"a propagation delay of {propagation_ms / 1000:g} s is too short: running nodes look for a new "
                f"domain key every {REFRESH_SECONDS:g} s, so give them at least {MIN_PROPAGATION_MS // 1000} s "
                "(or 0 when no other node serves this store)"
            )
        await self.refresh()
        raw = await self._store.get_meta(ROTATION_META)
        if raw is not None:
            current = RotationState.decode(raw)
            if current.phase != "done":
                raise RotationError(
                    f"a rotation to domain key {current.target} is still {current.phase}: "
                    "finish it with `pyehsm domain-key rotate --resume`"
                )
        active_raw = await self._store.get_meta(ACTIVE_DK)
        if active_raw is None:
            raise RotationError("the store has no domain key yet")
        previous = int(active_raw.decode())
        target = max(previous, *self._keyring.domain_key_ids()) + 1
        key = os.urandom(DK_BYTES)
        state = RotationState(target, previous, "prepared", self._clock.now_ms(), max(0, propagation_ms))
        ok = await self._store.replace_meta(
            {ACTIVE_DK: active_raw, ROTATION_META: raw, dk_meta_name(target): None},
            {dk_meta_name(target): self._root.wrap(key, dk_aad(target)), ROTATION_META: state.encode()},
        )
        if not ok:
            raise RotationError("another process changed the domain keys at the same time; run the rotation again")
        self._keyring.add_domain_key(target, key)
        log.info("domain key rotation: prepared domain key %d", target)
        return state

    async def _activate(self, state: RotationState, raw: bytes) -> RotationState:
        activated = replace(state, phase="rewrapping", activated_ms=self._clock.now_ms())
        ok = await self._store.replace_meta(
            {ROTATION_META: raw, ACTIVE_DK: str(state.previous).encode()},
            {ACTIVE_DK: str(state.target).encode(), ROTATION_META: activated.encode()},
        )
        if ok:
            log.info("domain key rotation: domain key %d is active, re-wrapping", state.target)
            await self.refresh()
            return activated
        return await read_state(self._store) or activated

    async def step(self, max_batches: int | None = None) -> RotationState | None:
        """Advance the current rotation as far as is possible now; None when there never was one.

        ``max_batches`` bounds the work of this call (a pass stops early, to be resumed later).
        """
        raw = await self._store.get_meta(ROTATION_META)
        if raw is None:
            return None
        state = RotationState.decode(raw)
        if state.phase == "done":
            return state
        now = self._clock.now_ms()
        if state.phase == "prepared":
            await self.refresh()
            if now < state.prepared_ms + state.propagation_ms:
                return state
            state = await self._activate(state, raw)
            raw = state.encode()
        if self._keyring.active_dk_id != state.target:
            await self.refresh()
        if self._keyring.active_dk_id != state.target:
            raise RotationError(
                f"domain key {state.target} is not active on this node (active: {self._keyring.active_dk_id})"
            )
        started = self._clock.now_ms()
        report = await self.rewrap_pass(state.target, max_batches)
        self.last_report = report
        if report.failed:
            log.error("domain key rotation: %d values could not be unwrapped and stay as they are", report.failed)
        if report.complete and started >= state.activated_ms + state.propagation_ms:
            done = replace(state, phase="done", finished_ms=self._clock.now_ms())
            if await self._store.replace_meta({ROTATION_META: raw}, {ROTATION_META: done.encode()}):
                log.info("domain key rotation to %d finished", state.target)
                return done
        return await read_state(self._store)

    async def rewrap_pass(self, target: int, max_batches: int | None = None) -> PassReport:
        """Re-wrap every value older than domain key ``target`` under the active key (== target)."""
        report = PassReport()
        below = Keyring.dk_id_prefix(target)
        for kind in WRAPPED_KINDS:
            aad_of = AAD_BUILDERS[kind]
            after: tuple[str | int, ...] | None = None
            while True:
                if max_batches is not None and report.batches >= max_batches:
                    return report
                rows = await self._store.list_wrapped(kind, below, after, self.batch_size)
                if not rows:
                    break
                changes: list[tuple[WrappedValue, bytes]] = []
                for row in rows:
                    try:
                        changes.append((row, self._keyring.rewrap(row.wrapped, aad_of(row.owner))))
                    except UnwrapError:
                        report.failed += 1
                        log.error("domain key rotation: %s %s does not unwrap; left as it is", kind, row.key)
                changed = await self._store.replace_wrapped(changes)
                report.rewrapped += changed
                report.conflicts += len(changes) - changed
                report.per_kind[kind] = report.per_kind.get(kind, 0) + changed
                report.batches += 1
                after = rows[-1].key
                await asyncio.sleep(0)  # let requests run between batches
        for name, aad in (await meta_wrapped(self._store)).items():
            value = await self._store.get_meta(name)
            if value is None or value[:5] >= below:
                continue
            try:
                new = self._keyring.rewrap(value, aad)
            except UnwrapError:
                report.failed += 1
                log.error("domain key rotation: meta %s does not unwrap; left as it is", name)
                continue
            if await self._store.replace_meta({name: value}, {name: new}):
                report.rewrapped += 1
                report.per_kind["meta"] = report.per_kind.get("meta", 0) + 1
            else:
                report.conflicts += 1
        report.complete = True
        return report

    def wait_ms(self, state: RotationState) -> int:
        """How long until the next phase can make progress (0: now)."""
        now = self._clock.now_ms()
        if state.phase == "prepared":
            return max(0, state.prepared_ms + state.propagation_ms - now)
        if state.phase == "rewrapping":
            return max(0, state.activated_ms + state.propagation_ms - now)
        return 0


async def maintain_forever(rotation: DomainKeyRotation, interval: float = REFRESH_SECONDS) -> None:
    """The per-node background task: pick up new domain keys and help any rotation along."""
    while True:
        try:
            await rotation.refresh()
            await rotation.step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("domain key maintenance failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
