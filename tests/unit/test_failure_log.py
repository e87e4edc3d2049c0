"""Issue 18 item 3: an unexpected exception is logged as one line per request, never with its text;
the traceback only the first time its failure site is seen (a failing request cannot flood the log)."""

from __future__ import annotations

import logging

import pytest

from pyehsm.http.asgi import FailureLog


def fail_with(text: str) -> None:
    raise ValueError(text)


def fail_elsewhere(text: str) -> None:
    raise ValueError(text)


def caught(fn: object, text: str) -> BaseException:
    try:
        fn(text)  # type: ignore[operator]
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def test_one_line_per_failure_and_one_traceback_per_site(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog()
    with caplog.at_level(logging.ERROR, logger="pyehsm.http"):
        for n in range(3):
            failures.record(caught(fail_with, f"secret-payload-{n}"), "CreateSecret", f"req{n}")
        failures.record(caught(fail_elsewhere, "secret-payload-x"), "Encrypt", "req9")
    records = [r for r in caplog.records if r.name == "pyehsm.http"]
    assert len(records) == 4
    lines = [r.getMessage() for r in records]
    assert ["Traceback" in line for line in lines] == [True, False, False, True]
    assert "in fail_with" in lines[0] and "in fail_elsewhere" in lines[3]
    assert lines[0].startswith("internal error in action CreateSecret (request req0): ValueError at test_failure_log")
    assert lines[1].endswith("(traceback logged before)")
    assert "Encrypt (request req9)" in lines[3]
    assert all(r.exc_info is None for r in records)  # no exception text, not even in the first trace
    for line in lines:
        assert "secret-payload" not in line
    assert "\n" not in lines[1] and "\n" not in lines[2]
