"""The chained audit trail of one node (one writer process): records, the hash chain, checkpoints, modes.

Write path (docs/audit.md, "Modes"): ``record`` queues a request's record; the records queued during one
event-loop turn are chained (seq, prev), encoded and written together at the start of the next turn
(one write() for every request that finished in the turn). Every ``checkpoint_every`` records, and every
``checkpoint_seconds`` while records are unsigned (the ``tick`` task), a signed checkpoint follows.

best-effort: the response goes out first, the record after; a failed write is logged and counted
(``failures``), and the next written batch starts with a ``lost`` record naming how many were lost.
required: ``admit`` writes (and fdatasyncs) a ``begin`` record before the handler runs and raises
AuditUnavailable if it cannot (the request then changes nothing); ``commit`` writes the outcome record
before the response is sent, and a failure there turns the response into AuditUnavailable (the change
was made: the chain holds its begin record, with no outcome after it).

The chain state (seq, prev) only advances when a write succeeded, and a failed write leaves no partial
line (sink.FileSink), so the file always holds one unbroken chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyehsm.audit.keys import AuditKeys, SigningKey, name_hash
from pyehsm.audit.policy import DEFAULT_POLICY, REQUIRED, Peer, TrailPolicy
from pyehsm.audit.record import (
    CHECKPOINT,
    FORMAT,
    GENESIS,
    LOST,
    REQUEST,
    START,
    Record,
    checkpoint_message,
    decoder,
    digest,
    encoder,
    rfc3339,
)
from pyehsm.audit.sink import AsyncSink, FileSink, StreamSink
from pyehsm.clock import Clock
from pyehsm.errors import AuditUnavailable

log = logging.getLogger("pyehsm.audit")

KEY_POLL_SECONDS = 5.0

Sink = FileSink | StreamSink | AsyncSink


class AuditTrail:
    """One node's chain. ``signer`` None: records are chained but never signed (the verifier then
    reports the whole chain as an unsigned tail)."""

    def __init__(
        self,
        sink: Sink | None,
        node: str,
        clock: Clock,
        policy: TrailPolicy = DEFAULT_POLICY,
        signer: SigningKey | None = None,
        hmac_key: bytes | None = None,
        keys: AuditKeys | None = None,
        now_us: Callable[[], int] | None = None,
    ) -> None:
        self.sink = sink
        self.node = node
        self.clock = clock
        self.policy = policy
        self.signer = signer
        self.keys = keys
        self.peer = Peer(policy.trusted_proxies)
        self._hmac_key = hmac_key if policy.hash_names else None
        self._now_us = now_us or (lambda: time.time_ns() // 1000)
        self._second, self._second_text = -1, ""
        self.required = policy.mode == REQUIRED
        self.seq = 0
        self.prev = GENESIS
        self.unsigned = 0  # records since the last checkpoint
        self.failures = 0  # write failures (best-effort: records lost)
        self._lost = 0  # records lost since the last successful write
        self._last_checkpoint_ms = clock.now_ms()
        self._file_started_ms = clock.now_ms()
        self._queued: list[Record] = []
        self._waiters: list[tuple[asyncio.Future[bool], bool]] = []  # (future, for a begin record)
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._handover: SigningKey | None = None  # the signing key a pending hand-over moves to
        self._want_checkpoint = False
        self._drain_task: asyncio.Task[None] | None = None
        if sink is not None:
            self._resume()

    def __repr__(self) -> str:
        return f"<AuditTrail node={self.node} seq={self.seq}>"

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    # -- the chain ----------------------------------------------------------------------------------------
    def _resume(self) -> None:
        """Continue the chain where the sink's last complete record left it; note a cut torn tail."""
        assert self.sink is not None
        line = self.sink.last_line()
        if line is not None:
            try:
                last = decoder.decode(line)
            except Exception:
                from pyehsm.errors import StartupError

                raise StartupError(
                    f"the audit log's last line is not an audit record: verify it (`pyehsm audit verify`) "
                    f"and move it aside before starting ({self.sink!r})"
                ) from None
            self.seq, self.prev = last.seq + 1, digest(line)
            self.unsigned = 0 if last.kind == CHECKPOINT else 1
        start = self._base(START)
        if self.sink.dropped_bytes:
            start.dropped_bytes = self.sink.dropped_bytes
        self._queued.append(start)
        self.flush(checkpoint=True)

    def _base(self, kind: str) -> Record:
        return Record(FORMAT, self.node, 0, "", kind, self._time())

    def _time(self) -> str:
        """rfc3339(now), the date-time text computed once per second (the hot path: one call per record)."""
        now = self._now_us()
        second, micro = divmod(now, 1_000_000)
        if second != self._second:
            self._second, self._second_text = second, rfc3339(second * 1_000_000)[:-8]
        return f"{self._second_text}.{micro:06d}Z"

    def _chain(self, records: list[Record], seq: int, prev: str, lines: list[bytes]) -> tuple[int, str]:
        for rec in records:
            rec.seq, rec.prev = seq, prev
            line = encoder.encode(rec)
            prev = digest(line)
            seq += 1
            lines.append(line)
        return seq, prev

    def _checkpoint(self, seq: int, prev: str, count: int, signer: SigningKey, next_key: str = "") -> Record:
        rec = self._base(CHECKPOINT)
        rec.seq, rec.prev, rec.key, rec.count = seq, prev, signer.id, count
        if next_key:
            rec.next_key = next_key
        rec.sig = signer.sign(checkpoint_message(self.node, seq, prev, rec.time, signer.id, count, next_key))
        return rec

    # -- request records ------------------------------------------------------------------------------------
    def request(
        self,
        *,
        request_id: str,
        client: object,
        forwarded_for: str | None,
        action: str,
        appid: str,
        authenticated: bool,
        keyid: str | None,
        key_version: int | None,
        name: str | None,
        code: int,
        error: str | None,
        latency_us: int,
        door: str = "ehsm",
    ) -> Record:
        if self.peer.trusted:
            host, forwarded = self.peer.resolve(client, forwarded_for)
        else:  # the usual: the ASGI client tuple, no proxy to believe
            host, forwarded = (client[0] if isinstance(client, tuple) and client else None), None
        if name is not None and self._hmac_key is not None:
            name = name_hash(self._hmac_key, name)
        rec = Record(
            FORMAT, self.node, 0, "", REQUEST, self._time(), None, request_id, host, forwarded, door, action,
            appid or None, bool(appid) and not authenticated, keyid, key_version, name, code, error, latency_us,
        )  # fmt: skip
        return rec

    def record(self, rec: Record) -> None:
        """best-effort: queue ``rec`` for this turn's group write (never raises)."""
        if self.sink is None:
            return
        self._queued.append(rec)
        self._schedule()

    async def write(self, rec: Record) -> bool:
        """Queue ``rec`` and wait until its group was written: True, or False when the write failed."""
        if self.sink is None:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append(rec)
        self._waiters.append((future, rec.phase == "begin"))
        self._schedule()
        return await future

    async def admit(self, rec: Record) -> None:
        """required mode: write ``rec`` as the request's begin record before the handler runs."""
        if not self.required or self.sink is None:
            return
        if isinstance(self.sink, FileSink) and not self.sink.ensure_reserve():
            self.failures += 1
            raise AuditUnavailable
        begin = Record(FORMAT, self.node, 0, "", REQUEST, rec.time, phase="begin")
        for field in ("request_id", "client", "forwarded_for", "door", "action", "appid", "keyid", "name"):
            setattr(begin, field, getattr(rec, field))
        if not await self.write(begin):
            raise AuditUnavailable

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a tool, a test): write through
            self.flush()
            return
        if loop is not self._flush_loop:
            self._flush_loop = loop
            loop.call_soon(self.flush)

    def _prepare(self, checkpoint: bool) -> _Batch | None:
        """Take the queued records, chain them (with a LOST note first, a checkpoint or a key hand-over
        after them when due) and encode them; the chain state only moves in ``_commit``."""
        records, self._queued = self._queued, []
        waiters, self._waiters = self._waiters, []
        handover = self._handover
        if not records and not (checkpoint and self.unsigned) and handover is None:
            _settle(waiters, True)
            return None
        if self._lost:
            lost = self._base(LOST)
            lost.lost = self._lost
            records.insert(0, lost)
        lines: list[bytes] = []
        seq, prev = self._chain(records, self.seq, self.prev, lines)
        unsigned = self.unsigned + len(records)
        signed = False
        if (self.signer is not None and unsigned) or handover is not None:
            due = checkpoint or unsigned >= self.policy.checkpoint_every or handover is not None
            if due and self.signer is not None:
                next_key = handover.public if handover is not None else ""
                rec = self._checkpoint(seq, prev, unsigned, self.signer, next_key)
                seq, prev = self._chain([rec], seq, prev, lines)
                signed = True
        return _Batch(records, waiters, lines, self.seq, seq, prev, 0 if signed else unsigned, signed, handover)

    def _commit(self, batch: _Batch) -> None:
        if self.sink is not None and self.sink.first_seq is None:
            self.sink.first_seq = batch.first_seq
        self.seq, self.prev, self.unsigned, self._lost = batch.seq, batch.prev, batch.unsigned, 0
        now = self.clock.now_ms()
        if batch.signed:
            self._last_checkpoint_ms = now
        if batch.handover is not None and batch.handover is self._handover:
            self.signer, self._handover = batch.handover, None
            log.info("audit log: now signing with audit key %s", batch.handover.id)
        _settle(batch.waiters, True)
        self._maybe_rotate(now)

    def _failed(self, batch: _Batch, exc: BaseException) -> None:
        self.failures += 1
        self._lost += len(batch.records) - (1 if self._lost else 0)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        log.warning("audit log write failed (%d records not written): %s", len(batch.records), reason)
        _settle(batch.waiters, False)

    def flush(self, *, checkpoint: bool = False) -> bool:
        """Chain and write the queued records (and a checkpoint when due) with one write()."""
        self._flush_loop = None
        sink = self.sink
        if isinstance(sink, AsyncSink):
            self._want_checkpoint = self._want_checkpoint or checkpoint
            self._start_drain()
            return True
        batch = self._prepare(checkpoint)
        if batch is None or sink is None:
            return True
        data = b"\n".join(batch.lines) + b"\n"
        try:
            sink.write(data)
        except OSError as exc:
            # required mode: the reserve is freed so the records of requests already admitted still fit;
            # admissions are refused until it can be allocated again (``admit``)
            if not (isinstance(sink, FileSink) and sink.release_reserve() and _retry(sink, data)):
                self._failed(batch, exc)
                return False
            # written out of the reserve: the outcomes stand, the requests waiting to begin are refused
            # (their begin records stay in the chain, with no outcome after them: docs/audit.md)
            begins = [w for w in batch.waiters if w[1]]
            batch.waiters = [w for w in batch.waiters if not w[1]]
            _settle(begins, False)
        self._commit(batch)
        return True

    def _start_drain(self) -> None:
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """The one writer of an async sink (PostgreSQL): batches in chain order, one at a time."""
        sink = self.sink
        assert isinstance(sink, AsyncSink)
        while self._queued or self._waiters or self._want_checkpoint or self._handover is not None:
            checkpoint, self._want_checkpoint = self._want_checkpoint, False
            batch = self._prepare(checkpoint)
            if batch is None:
                continue
            try:
                await sink.write_lines(batch.first_seq, batch.lines)
            except Exception as exc:  # a lost connection, a full disk on the database server
                self._failed(batch, exc)
                if self._handover is not None:
                    return  # retried by the next tick
                continue
            self._commit(batch)

    def checkpoint(self) -> bool:
        """Sign what is unsigned now (a no-op without a signer or without unsigned records)."""
        if self.signer is None or (not self.unsigned and not self._queued):
            return True
        return self.flush(checkpoint=True)

    def _maybe_rotate(self, now_ms: int) -> None:
        sink = self.sink
        if not isinstance(sink, FileSink):
            return
        by_size = self.policy.rotate_bytes and sink.size >= self.policy.rotate_bytes
        by_time = self.policy.rotate_seconds and now_ms - self._file_started_ms >= self.policy.rotate_seconds * 1000
        if not (by_size or by_time) or sink.size == 0:
            return
        if self.unsigned and not self.checkpoint():  # every closed file ends with a checkpoint
            return
        if sink.size == 0 or self.sink is not sink:  # the checkpoint's own flush rotated already
            return
        try:
            sink.rotate()
        except OSError as exc:
            log.warning("audit log rotation failed: %s", exc.strerror or exc)
            return
        self._file_started_ms = now_ms

    # -- signing keys ----------------------------------------------------------------------------------------
    async def follow_key(self) -> None:
        """Adopt a new active signing key (``pyehsm audit rotate-key``): a hand-over checkpoint signed by
        the old key names the new one, so the chain itself records the rotation."""
        if self.keys is None or self.signer is None or self.sink is None:
            return
        number = await self.keys.active_number()
        if number == self.signer.number or (self._handover is not None and self._handover.number == number):
            return
        self._handover = await self.keys.signing_key(number)
        self.flush()
        if self._drain_task is not None:
            await asyncio.shield(self._drain_task)

    async def tick_forever(self) -> None:
        """The node's background task: time-based checkpoints and rotation, following key rotations."""
        interval = max(0.05, min(self.policy.checkpoint_seconds, KEY_POLL_SECONDS))
        last_poll = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.clock.now_ms()
                if self.unsigned and now - self._last_checkpoint_ms >= self.policy.checkpoint_seconds * 1000:
                    self.checkpoint()
                self._maybe_rotate(now)
                if time.monotonic() - last_poll >= KEY_POLL_SECONDS:
                    last_poll = time.monotonic()
                    await self.follow_key()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit log maintenance failed")

    def close(self) -> None:
        """Write what is queued and sign it; close the file (an async sink: use ``aclose``)."""
        if self.sink is None or isinstance(self.sink, AsyncSink):
            return
        if self._queued or self.unsigned:
            self.flush(checkpoint=self.signer is not None)
        self.sink.close()
        self.sink = None

    async def aclose(self) -> None:
        if isinstance(self.sink, AsyncSink):
            self.flush(checkpoint=self.signer is not None)
            if self._drain_task is not None:
                await self._drain_task
            await self.sink.aclose()
            self.sink = None
            return
        self.close()


@dataclass(slots=True)
class _Batch:
    records: list[Record]
    waiters: list[tuple[asyncio.Future[bool], bool]]
    lines: list[bytes]
    first_seq: int
    seq: int  # the chain state after this batch
    prev: str
    unsigned: int
    signed: bool
    handover: SigningKey | None


def _retry(sink: FileSink, data: bytes) -> bool:
    try:
        sink.write(data)
    except OSError:
        return False
    return True


def _settle(waiters: list[tuple[asyncio.Future[bool], bool]], ok: bool) -> None:
    for future, _ in waiters:
        if not future.done():
            future.set_result(ok)
