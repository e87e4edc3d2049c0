"""The benchmark's success check (bench/load.py): pyehsm's envelope codes read from its metrics text."""

from __future__ import annotations

from bench.load import failures_between, outcomes_in

METRICS = """\
# HELP pyehsm_requests_total Requests answered, by Action and envelope code
# TYPE pyehsm_requests_total counter
pyehsm_requests_total{action="Encrypt",code="200"} 1.234567e+06
pyehsm_requests_total{action="Encrypt",code="400"} 3.0
pyehsm_requests_total{code="404",action="unknown"} 2.0
pyehsm_requests_total{action="CreateKey",code="200"} 5.0
pyehsm_request_duration_seconds_count{action="Encrypt"} 1.234570e+06
pyehsm_requests_created{action="Encrypt",code="200"} 1.7e+09
"""


def test_outcomes_sum_codes_over_actions_and_ignore_other_series() -> None:
    assert outcomes_in(METRICS) == (1_234_572, 5)
    assert outcomes_in("") == (0, 0)


def test_failures_count_server_failures_once() -> None:
    assert failures_between((100, 1), (1100, 1), 1000) == 0  # all 1000 responses were successes
    assert failures_between((100, 1), (1105, 1), 1000) == 0  # the server finished a few more in flight
    assert failures_between((100, 1), (100, 1001), 1000) == 1000  # every response a failure, counted once
    assert failures_between((0, 0), (900, 100), 1000) == 100


def test_responses_the_server_did_not_count_are_failures() -> None:
    assert failures_between((0, 0), (0, 0), 1000) == 1000  # the counter saw nothing (metrics off, wrong server)
    assert failures_between((0, 0), (600, 0), 1000) == 400
