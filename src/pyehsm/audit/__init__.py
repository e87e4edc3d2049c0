"""The tamper-evident audit trail (docs/audit.md): one chained JSON record per request, signed
checkpoints, rotation, the offline verifier. ``open_trail`` builds a node's trail from its settings."""

from __future__ import annotations

import os
import socket

import msgspec

from pyehsm.audit.keys import AuditKeys
from pyehsm.audit.policy import BEST_EFFORT, MODES, REQUIRED, TrailPolicy
from pyehsm.audit.record import CHECKPOINT, Record, decoder
from pyehsm.audit.sink import FileSink, StreamSink, rotated_files
from pyehsm.audit.trail import AuditTrail
from pyehsm.clock import Clock
from pyehsm.errors import AuditUnavailable, StartupError
from pyehsm.keyring.keyring import Keyring
from pyehsm.store.base import Store

__all__ = [
    "BEST_EFFORT",
    "MODES",
    "REQUIRED",
    "AuditKeys",
    "AuditTrail",
    "AuditUnavailable",
    "Record",
    "TrailPolicy",
    "default_node_id",
    "open_trail",
]


REQUIRED_RESERVE_BYTES = 16 * 1024  # required mode: kept free for the outcome records of admitted requests


def default_node_id() -> str:
    return socket.gethostname() or "node"


def _signer_of(line: bytes | None) -> str | None:
    """The key id of a checkpoint line (PostgreSQL sink: the newest row; None when not a checkpoint)."""
    if line is None:
        return None
    from pyehsm.audit.keys import key_id

    try:
        rec = decoder.decode(line)
    except msgspec.DecodeError:
        return None
    if rec.kind != CHECKPOINT:
        return None
    return key_id(rec.next_key) if rec.next_key else rec.key


def _tail_lines(name: str, first_read: int = 4 << 20) -> list[bytes]:
    """The lines of the last ``first_read`` bytes of a file (a checkpoint comes at least every
    --audit-checkpoint-records records), or of the whole file when that holds no checkpoint."""
    with open(name, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - first_read))
        data = f.read()
        if size > first_read and b'"kind":"checkpoint"' not in data:
            f.seek(0)
            data = f.read()
    return data.split(b"\n")


def _last_signer(path: str) -> str | None:
    """The id of the key that signed the chain's last checkpoint (the new key if it handed over)."""
    from pyehsm.audit.keys import key_id

    for name in [path, *reversed(rotated_files(path))]:
        try:
            lines = _tail_lines(name)
        except FileNotFoundError:
            continue
        for raw in reversed(lines):
            if b'"kind":"checkpoint"' not in raw:
                continue
            try:
                rec = decoder.decode(raw)
            except msgspec.DecodeError:  # not a record: the verifier reports it, the writer moves on
                rec = None
            if rec is not None and rec.kind == CHECKPOINT:
                return key_id(rec.next_key) if rec.next_key else rec.key
    return None


async def open_trail(
    target: str,
    store: Store,
    keyring: Keyring,
    clock: Clock,
    *,
    node: str = "",
    policy: TrailPolicy | None = None,
) -> AuditTrail:
    """The node's trail on ``target`` ("" off, "-" stdout, else a file path), its chain resumed, a
    start record and a checkpoint written, and any signing-key rotation made while it was down handed over."""
    node = node or default_node_id()
    policy = policy or TrailPolicy()
    if not target:
        return AuditTrail(None, node, clock, policy)
    keys = AuditKeys(store, keyring)
    active = await keys.signing_key()
    hmac_key = await keys.hmac_key() if policy.hash_names else None
    if target == "-":
        return AuditTrail(StreamSink(), node, clock, policy, active, hmac_key, keys)
    if target.startswith(("postgresql://", "postgres://")):
        from pyehsm.audit.pgsink import PgSink

        pg = await PgSink.open(target, node)
        previous = _signer_of(pg.last_line())
        signer = (await keys.by_id(previous) if previous and previous != active.id else None) or active
        trail = AuditTrail(pg, node, clock, policy, signer, hmac_key, keys)
        await trail.follow_key()
        return trail
    signer = active
    previous = _last_signer(target)
    if previous is not None and previous != active.id:
        signer = await keys.by_id(previous) or active
    required = policy.mode == REQUIRED
    sink = FileSink(target, fsync=required, reserve_bytes=REQUIRED_RESERVE_BYTES if required else 0)
    if not sink.ensure_reserve():
        sink.close()
        raise StartupError(f"--audit-mode required: no room for the audit log's reserve beside {target}")
    trail = AuditTrail(sink, node, clock, policy, signer, hmac_key, keys)
    await trail.follow_key()
    return trail
