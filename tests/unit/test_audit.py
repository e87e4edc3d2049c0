"""The chained audit trail without a server: chain and checkpoints, group writes, resuming after a restart or
a torn write, all-or-nothing writes, rotation, file permissions, the verifier's verdicts (docs/audit.md)."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pyehsm.audit.keys import SigningKey, name_hash
from pyehsm.audit.policy import TrailPolicy
from pyehsm.audit.record import GENESIS, decoder, digest
from pyehsm.audit.sink import FileSink, StreamSink, rotated_files
from pyehsm.audit.trail import AuditTrail
from pyehsm.audit.verify import OK, TAMPERED, UNPROVEN, verify_files
from pyehsm.clock import ManualClock
from pyehsm.errors import StartupError

SIGNER = SigningKey(1, Ed25519PrivateKey.generate())


def trail(path: Path, clock: ManualClock | None = None, **policy: object) -> AuditTrail:
    return AuditTrail(FileSink(str(path)), "n1", clock or ManualClock(), TrailPolicy(**policy), SIGNER)  # type: ignore[arg-type]


def request(t: AuditTrail, i: int, **extra: object) -> None:
    fields: dict[str, object] = {
        "request_id": f"r{i}",
        "client": ("127.0.0.1", 5555),
        "forwarded_for": None,
        "action": "Encrypt",
        "appid": "app",
        "authenticated": True,
        "keyid": "k",
        "key_version": 1,
        "name": None,
        "code": 200,
        "error": None,
        "latency_us": 10,
    }
    fields.update(extra)
    t.record(t.request(**fields))  # type: ignore[arg-type]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_each_record_chains_to_the_previous_and_checkpoints_verify(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log, checkpoint_every=3)
    for i in range(7):
        request(t, i)
    t.close()
    raw = lines(log)
    records = [decoder.decode(r) for r in raw]
    assert [r.seq for r in records] == list(range(len(records)))
    assert records[0].prev == GENESIS
    assert all(records[i + 1].prev == digest(raw[i]) for i in range(len(raw) - 1))
    assert [r.kind for r in records].count("checkpoint") >= 3 and records[-1].kind == "checkpoint"
    report = verify_files([str(log)], [SIGNER.public])
    assert report.status == OK, report.lines()


def test_the_records_of_one_turn_are_one_write(tmp_path: Path) -> None:
    out = io.BytesIO()
    writes: list[int] = []

    class Counting(io.BytesIO):
        def write(self, data: object) -> int:
            writes.append(1)
            return out.write(data)  # type: ignore[arg-type]

    t = AuditTrail(StreamSink(Counting()), "n1", ManualClock(), TrailPolicy(), SIGNER)

    async def turn() -> None:
        for i in range(5):
            request(t, i)
        await asyncio.sleep(0)

    before = len(writes)
    asyncio.run(turn())
    assert len(writes) == before + 1
    assert [decoder.decode(r).request_id for r in out.getvalue().splitlines()[-5:]] == [f"r{i}" for i in range(5)]


def test_a_restart_continues_the_chain_and_a_torn_last_line_is_cut(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log)
    request(t, 0)
    t.sink.close()  # type: ignore[union-attr]  # a crash: no closing checkpoint
    with log.open("ab") as f:
        f.write(b'{"v":1,"node":"n1","seq":9')  # the write a kill -9 interrupted
    assert verify_files([str(log)], [SIGNER.public]).status == UNPROVEN  # torn + unsigned: not tampering
    t2 = trail(log)
    request(t2, 1)
    t2.close()
    records = [decoder.decode(r) for r in lines(log)]
    start = [r for r in records if r.kind == "start"]
    assert start[-1].dropped_bytes == len(b'{"v":1,"node":"n1","seq":9')
    assert verify_files([str(log)], [SIGNER.public]).status == OK


def test_a_failed_write_leaves_no_partial_line_and_the_next_batch_says_how_many_were_lost() -> None:
    class Full(io.BytesIO):
        full = False

        def write(self, data: object) -> int:
            if self.full:
                raise OSError(28, "No space left on device")
            return super().write(data)  # type: ignore[arg-type]

    stream = Full()
    t = AuditTrail(StreamSink(stream), "n1", ManualClock(), TrailPolicy(), SIGNER)
    stream.full = True
    request(t, 0)
    request(t, 1)
    assert t.failures == 2
    stream.full = False
    request(t, 2)
    records = [decoder.decode(r) for r in stream.getvalue().splitlines()]
    assert [r.kind for r in records][-2:] == ["lost", "request"] and records[-2].lost == 2
    assert [r.seq for r in records] == list(range(len(records)))


def test_rotation_by_size_continues_the_chain_across_files(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log, rotate_bytes=2000)
    for i in range(40):
        request(t, i)
    t.close()
    files = rotated_files(str(log))
    assert len(files) >= 3
    assert all(decoder.decode(lines(Path(f))[-1]).kind == "checkpoint" for f in files)  # closed files end signed
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in [*files, str(log)])
    assert verify_files([*files, str(log)], [SIGNER.public]).status == OK
    assert verify_files([str(log), *reversed(files)], [SIGNER.public]).status == OK  # any order
    report = verify_files([files[0], *files[2:], str(log)], [SIGNER.public])
    assert report.status == TAMPERED and "missing file" in report.lines()[0]


def test_rotation_by_time(tmp_path: Path) -> None:
    clock = ManualClock()
    log = tmp_path / "audit.jsonl"
    t = trail(log, clock, rotate_seconds=60)
    request(t, 0)
    clock.advance(seconds=61)
    request(t, 1)
    t.close()
    assert len(rotated_files(str(log))) == 1


def test_hash_names_records_the_hmac_not_the_name(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    key = os.urandom(32)
    t = AuditTrail(FileSink(str(log)), "n1", ManualClock(), TrailPolicy(hash_names=True), SIGNER, key)
    request(t, 0, name="payroll-db-password")
    t.close()
    assert b"payroll" not in log.read_bytes()
    assert name_hash(key, "payroll-db-password").encode() in log.read_bytes()


def test_forwarded_for_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = AuditTrail(FileSink(str(log)), "n1", ManualClock(), TrailPolicy(trusted_proxies=("10.0.0.0/8",)), SIGNER)
    request(t, 0, client=("10.1.2.3", 1), forwarded_for="203.0.113.9")
    request(t, 1, client=("192.0.2.1", 1), forwarded_for="203.0.113.9")
    t.close()
    reqs = [decoder.decode(r) for r in lines(log) if b'"request"' in r]
    assert [(r.client, r.forwarded_for) for r in reqs] == [("10.1.2.3", "203.0.113.9"), ("192.0.2.1", None)]


def test_a_new_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        trail(tmp_path / "audit.jsonl").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_an_existing_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch()
    path.chmod(mode)
    with pytest.raises(StartupError, match="chmod 600"):
        FileSink(str(path))


def test_a_checkpoint_signed_by_another_key_is_a_forgery(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log)
    request(t, 0)
    t.close()
    other = SigningKey(1, Ed25519PrivateKey.generate())
    report = verify_files([str(log)], [other.public])
    assert report.status == TAMPERED and "forged checkpoint" in report.lines()[0]
    # a valid Ed25519 signature by the other key, claiming the trusted key's id
    raw = lines(log)
    rec = decoder.decode(raw[-1])
    from pyehsm.audit.record import checkpoint_message, encoder

    assert rec.key is not None and rec.count is not None
    msg = checkpoint_message(rec.node, rec.seq, rec.prev, rec.time, rec.key, rec.count, "")
    rec.sig = other.sign(msg)
    raw[-1] = encoder.encode(rec)
    log.write_bytes(b"\n".join(raw) + b"\n")
    report = verify_files([str(log)], [SIGNER.public])
    assert report.status == TAMPERED and "forged checkpoint" in report.lines()[0]
    assert "does not verify" in report.lines()[0]
    assert base64.b64decode(rec.sig)


def test_a_missing_first_file_and_an_unsigned_tail_are_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log, rotate_bytes=1500, checkpoint_every=1000)
    for i in range(12):
        request(t, i)
    t.sink.close()  # type: ignore[union-attr]  # stopped without a closing checkpoint
    files = [*rotated_files(str(log)), str(log)]
    report = verify_files(files[1:], [SIGNER.public])
    assert report.status == TAMPERED and "the chain starts at seq" in report.lines()[0]
    report = verify_files(files, [SIGNER.public])
    assert report.status == UNPROVEN and any("unsigned tail of" in line for line in report.lines())


def test_checkpoint_signs_the_unsigned_tail(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    t = trail(log)
    request(t, 0)
    assert t.unsigned and verify_files([str(log)], [SIGNER.public]).status == UNPROVEN
    assert t.checkpoint() and t.unsigned == 0
    assert verify_files([str(log)], [SIGNER.public]).status == OK
