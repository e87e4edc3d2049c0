"""Per-app rate limiting: the token bucket with an injected clock, and a real server (ManualClock) that
answers code 400 "Too many requests, rate limit exceeded." once an app's burst is spent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyehsm.client import Client, RateLimitError
from pyehsm.clock import ManualClock
from pyehsm.config import DEFAULT_RATE_LIMIT, Settings
from pyehsm.errors import StartupError
from pyehsm.http.ratelimit import RateLimiter
from pyehsm.protocols.ehsm.endpoint import REPLAYED
from pyehsm.protocols.ehsm.errors import RATE_LIMITED
from tests.support.server import InProcessServer, in_process_server


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    clock.advance(ms=499)
    assert limiter.allow("a") is False  # 0.998 tokens
    clock.advance(ms=1)
    assert limiter.allow("a") is True and limiter.allow("a") is False
    clock.advance(seconds=60)  # refills to the burst, never beyond
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b") is True  # apps do not share buckets
    assert limiter.refused == 4


def test_bucket_table_is_bounded() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_buckets=10)
    for i in range(10):
        assert limiter.allow(f"app{i}")
    clock.advance(seconds=1)  # every bucket full again: nothing to remember about them
    assert limiter.allow("newcomer") and len(limiter) == 1
    for i in range(30):
        limiter.allow(f"busy{i}")  # all active: the oldest half is dropped, the table stays bounded
    assert len(limiter) <= 10


def test_settings_default_off_on_loopback_and_validated() -> None:
    assert Settings(host="127.0.0.1").effective_rate_limit == (0.0, 0)
    assert Settings(host="0.0.0.0", allow_plaintext=True).effective_rate_limit == (
        DEFAULT_RATE_LIMIT,
        int(DEFAULT_RATE_LIMIT * 2),
    )
    assert Settings(rate_limit=5).effective_rate_limit == (5, 10)
    assert Settings(rate_limit=5, rate_limit_burst=7).effective_rate_limit == (5, 7)
    assert Settings(host="0.0.0.0", rate_limit=0).effective_rate_limit == (0.0, 0)
    assert Settings.from_env({"PYEHSM_RATE_LIMIT": "12.5"}).rate_limit == 12.5
    with pytest.raises(StartupError):
        Settings(rate_limit=-1).validate()


@pytest.fixture
def limited(tmp_path: Path, clock: ManualClock) -> Iterator[InProcessServer]:
    settings = Settings(data_dir=tmp_path / "data", pool_depth={}, rate_limit=1.0, rate_limit_burst=3)
    with in_process_server(settings, clock) as srv:
        yield srv


def test_server_answers_rate_limit_error(limited: InProcessServer, clock: ManualClock) -> None:
    with Client.enroll(limited.base, clock=clock) as a, Client.enroll(limited.base, clock=clock) as b:
        bodies = [a.envelope(None, nonce=str(i)) for i in range(5)]
        answers = [a.post_raw("ListKey", body) for body in bodies[:4]]
        assert [r.code for r in answers] == [200, 200, 200, 400]
        assert answers[3].message == RATE_LIMITED and answers[3].result == {}
        with pytest.raises(RateLimitError, match="rate limit exceeded"):
            answers[3].raise_for_code()
        assert b.list_key() == []  # another app has its own bucket
        forged = Client(limited.base, a.appid, "x" * 32, clock=clock)
        assert forged.request("ListKey").message == "sign error"  # forged requests never reach the bucket
        clock.advance(seconds=1)
        # the refused request was authentic, so it is spent: it cannot be sent again once a token is back
        assert a.post_raw("ListKey", bodies[3]).message == REPLAYED
        assert a.post_raw("ListKey", bodies[4]).code == 200
        assert a.post_raw("ListKey", a.envelope(None, nonce="5")).code == 400
        metrics = httpx.get(f"{limited.url}/metrics").text
        assert "pyehsm_rate_limited_total 2.0" in metrics
        assert 'pyehsm_requests_total{action="ListKey",code="400"} 4.0' in metrics


def test_a_rate_limited_request_cannot_be_resent_as_another_action(
    limited: InProcessServer, clock: ManualClock
) -> None:
    """Issue 18: a ListKey refused with "Too many requests" was re-sent as DeleteAllKey (the Action is not
    signed) and deleted every key. The refused request is spent, so the re-send is a replay."""
    with Client.enroll(limited.base, clock=clock) as a:
        keyid = a.create_key("EH_AES_GCM_256")
        spent = [a.post_raw("ListKey", a.envelope(None, nonce=str(i))) for i in range(2)]
        assert [r.code for r in spent] == [200, 200]  # the burst of 3 is used up (CreateKey took one)
        captured = a.envelope(None, nonce="captured")
        refused = a.post_raw("ListKey", captured)
        assert refused.message == RATE_LIMITED
        clock.advance(seconds=5)  # tokens are back: only the replay guard stands in the way now
        resent = a.post_raw("DeleteAllKey", captured)
        assert (resent.code, resent.message) == (400, REPLAYED)
        assert [k.keyid for k in a.list_key()] == [keyid]  # nothing was deleted


def test_rate_limit_off_on_loopback_by_default(manual_server: InProcessServer, clock: ManualClock) -> None:
    assert manual_server.runtime.limiter is None
    with Client.enroll(manual_server.base, clock=clock) as c:
        codes = {c.post_raw("ListKey", c.envelope(None, nonce=str(i))).code for i in range(50)}
    assert codes == {200}
