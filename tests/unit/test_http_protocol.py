"""The coalescing transport under pyehsm's HTTP protocol: writes of one event-loop step leave as one
write, in order, and nothing is held past that step or lost at close."""

from __future__ import annotations

import asyncio
from typing import Any

from pyehsm.http.protocol import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The transport underneath: records what reaches it (the socket side is covered end to end)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.events.append("eof")

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def pause_reading(self) -> None:
        self.events.append("pause")

    def resume_reading(self) -> None:
        self.events.append("resume")


async def _pair() -> tuple[CoalescingTransport, RecordingTransport]:
    inner = RecordingTransport()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner


async def test_head_and_body_written_in_one_step_leave_as_one_write() -> None:
    outer, inner = await _pair()
    outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    outer.write(memoryview(b"ok"))
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]  # nothing left to flush


async def test_a_lone_write_is_sent_at_the_end_of_its_step() -> None:
    outer, inner = await _pair()
    outer.write(b"head")
    assert inner.writes == []
    assert outer.get_write_buffer_size() == 4
    await asyncio.sleep(0)
    assert inner.writes == [b"head"]
    outer.write(b"next")  # a later step starts over
    await asyncio.sleep(0)
    assert inner.writes == [b"head", b"next"]


async def test_order_is_kept_across_steps_and_writelines() -> None:
    outer, inner = await _pair()
    outer.write(b"a")
    outer.writelines([b"b", b"c"])
    outer.write(b"d")
    await asyncio.sleep(0)
    assert b"".join(inner.writes) == b"abcd"


async def test_close_and_write_eof_send_what_is_held_first() -> None:
    outer, inner = await _pair()
    outer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    outer.close()
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert inner.events == ["close"]
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]

    outer, inner = await _pair()
    outer.write(b"tail")
    outer.write_eof()
    assert inner.writes == [b"tail"] and inner.events == ["eof"]


async def test_abort_drops_what_is_held() -> None:
    outer, inner = await _pair()
    outer.write(b"never sent")
    outer.abort()
    await asyncio.sleep(0)
    assert inner.writes == [] and inner.events == ["abort"]


async def test_writes_after_close_go_straight_through() -> None:
    outer, inner = await _pair()
    outer.close()
    outer.write(b"late")
    assert inner.writes == [b"late"]  # the transport underneath decides what a late write means


async def test_everything_else_is_passed_through() -> None:
    outer, inner = await _pair()
    outer.pause_reading()
    outer.resume_reading()
    assert inner.events == ["pause", "resume"]
    assert outer.get_extra_info("peername") == ("127.0.0.1", 1)
    assert outer.get_extra_info("missing", "default") == "default"
    assert outer.can_write_eof() and not outer.is_closing()
