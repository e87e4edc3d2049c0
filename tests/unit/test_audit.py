"""The audit log: the lines of one event-loop turn are written together with one write(), in order, in the
unchanged format; close() loses nothing; a failed write is a warning that never names a line."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TypedDict

import msgspec
import pytest

from pyehsm.audit import AuditLog
from pyehsm.errors import StartupError


class Recorder:
    """A binary stream that remembers each write() call."""

    def __init__(self, limit: int | None = None, error: Exception | None = None) -> None:
        self.writes: list[bytes] = []
        self.limit = limit  # write at most this many bytes per call, as a raw file may
        self.error = error

    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        chunk = bytes(data[: self.limit])
        self.writes.append(chunk)
        return len(chunk)

    def close(self) -> None:
        raise AssertionError("the caller's stream is the caller's to close")


class Facts(TypedDict):
    time_ms: int
    request_id: str
    appid: str
    action: str
    keyid: str | None
    code: int
    latency_us: int


def facts(i: int, keyid: str | None = "0b4e") -> Facts:
    return {
        "time_ms": 1735689600123 + i,
        "request_id": f"9f2c4e1a7b3d5c6{i}",
        "appid": "5d0c",
        "action": "Decrypt",
        "keyid": keyid,
        "code": 400,
        "latency_us": 812 + i,
    }


def line(i: int, keyid: str | None = "0b4e") -> bytes:
    """The line as it has always been written: a dict encoded by msgspec, then a newline."""
    f = facts(i, keyid)
    old = {
        "time": f["time_ms"],
        "request_id": f["request_id"],
        "appid": f["appid"],
        "action": f["action"],
        "keyid": f["keyid"],
        "code": f["code"],
        "latency_us": f["latency_us"],
    }
    return msgspec.json.encode(old) + b"\n"


def test_the_line_format_is_unchanged() -> None:
    out = Recorder()
    log = AuditLog("", stream=out)  # no event loop: written at once
    log.record(**facts(0))
    log.record(**facts(1, keyid=None))
    odd = facts(2)
    odd["appid"], odd["action"] = 'a"\\\u00e9\u2028\n', ""
    log.record(**odd)
    assert out.writes[0] == (
        b'{"time":1735689600123,"request_id":"9f2c4e1a7b3d5c60","appid":"5d0c","action":"Decrypt",'
        b'"keyid":"0b4e","code":400,"latency_us":812}\n'
    )
    assert out.writes[1] == line(1, keyid=None) and b'"keyid":null' in out.writes[1]
    old = {"time": odd["time_ms"], **{k: v for k, v in odd.items() if k != "time_ms"}}
    assert out.writes[2] == msgspec.json.encode(old) + b"\n"
    assert (
        list(msgspec.json.decode(out.writes[2]))
        == list(old)
        == ["time", "request_id", "appid", "action", "keyid", "code", "latency_us"]
    )


async def test_the_records_of_one_turn_are_one_write_in_order() -> None:
    out = Recorder()
    log = AuditLog("", stream=out)
    for i in range(5):
        log.record(**facts(i))
    assert out.writes == []  # queued until the turn ends
    await asyncio.sleep(0)
    assert out.writes == [b"".join(line(i) for i in range(5))]
    log.record(**facts(5))
    log.record(**facts(6))
    await asyncio.sleep(0)
    assert out.writes[1:] == [line(5) + line(6)]
    await asyncio.sleep(0)
    assert len(out.writes) == 2  # no empty writes for turns without records


async def test_a_file_gets_every_line_in_order_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(line(99))  # appended to, never truncated
    path.chmod(0o600)
    log = AuditLog(str(path))
    for i in range(3):
        log.record(**facts(i))
    await asyncio.sleep(0)
    assert path.read_bytes() == line(99) + line(0) + line(1) + line(2)
    log.record(**facts(3))
    log.record(**facts(4))
    log.close()  # before the turn ends
    assert path.read_bytes() == line(99) + b"".join(line(i) for i in range(5))
    await asyncio.sleep(0)  # the flush scheduled for this turn finds nothing to do
    log.record(**facts(5))
    await asyncio.sleep(0)
    assert path.read_bytes() == line(99) + b"".join(line(i) for i in range(5))
    assert not log.enabled


async def test_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    log = AuditLog("-")
    log.record(**facts(0))
    log.record(**facts(1))
    await asyncio.sleep(0)
    log.record(**facts(2))
    log.close()
    assert not sys.stdout.buffer.closed
    assert capsysbinary.readouterr().out == line(0) + line(1) + line(2)


def test_off() -> None:
    log = AuditLog("")
    assert not log.enabled
    log.record(**facts(0))
    log.close()


def test_a_short_write_is_completed() -> None:
    out = Recorder(limit=7)
    log = AuditLog("", stream=out)
    log.record(**facts(0))
    assert b"".join(out.writes) == line(0) and len(out.writes) > 1


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), ValueError("I/O operation on closed file")])
async def test_a_failed_write_is_a_warning_only(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    log = AuditLog("", stream=Recorder(error=error))
    caplog.set_level(logging.WARNING)
    log.record(**facts(0))
    log.record(**facts(1))
    await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == ["audit log write failed (up to 2 records lost)"]
    assert "9f2c4e1a7b3d5c6" not in caplog.text and "5d0c" not in caplog.text
    caplog.clear()
    log.close()  # without a loop turn, without anything queued: nothing more to report
    assert caplog.records == []


def test_a_new_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old = os.umask(0)
    try:
        log = AuditLog(str(path))
    finally:
        os.umask(old)
    log.record(**facts(1))
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == line(1)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_an_existing_file_others_can_access_is_refused_like_the_root_key_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(line(99))
    path.chmod(mode)
    with pytest.raises(StartupError, match=rf"audit log {path} has mode {mode:04o}.*chmod 600"):
        AuditLog(str(path))
    assert path.read_bytes() == line(99) and stat.S_IMODE(path.stat().st_mode) == mode


def test_an_unopenable_file_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"cannot open the audit log .*No such file or directory"):
        AuditLog(str(tmp_path / "missing" / "audit.jsonl"))
