"""Fault injection through the requests adapter: each fault looks to the client exactly like
its network counterpart."""

from datetime import UTC, datetime

import pytest
import requests

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.sandbox_at(NOW)

NEW_KEY = {"apiKeyType": "INFERENCE", "description": "Through a fault"}


def key_count(sandbox):
    return len(sandbox.key_ids())


def test_a_status_fault_answers_for_the_next_n_calls_then_stops(
    sandbox, sandbox_session, sandbox_url
):
    sandbox.faults.inject("/api_keys", "GET", status=503, times=2)

    statuses = [sandbox_session.get(sandbox_url("/api_keys")).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert len(sandbox.received) == 3  # the failed attempts reached the sandbox too


def test_a_status_fault_changes_nothing_upstream(sandbox, sandbox_session, sandbox_url):
    before = key_count(sandbox)
    sandbox.faults.inject("/api_keys", "POST", status=500)

    response = sandbox_session.post(sandbox_url("/api_keys"), json=NEW_KEY)

    assert response.status_code == 500
    assert response.json() == {"error": "An unknown error occurred"}
    assert key_count(sandbox) == before


def test_an_injected_429_says_when_to_come_back(sandbox, sandbox_session, sandbox_url):
    sandbox.faults.inject("/billing/balance", status=429, reset_after=42)

    response = sandbox_session.get(sandbox_url("/billing/balance"))

    assert response.status_code == 429
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    reset = int(response.headers["x-ratelimit-reset-requests"])
    assert reset == int(NOW.timestamp()) + 42


def test_a_timeout_before_raises_connect_timeout_and_changes_nothing(
    sandbox, sandbox_session, sandbox_url
):
    before = key_count(sandbox)
    sandbox.faults.inject("/api_keys", "POST", timeout="before")

    with pytest.raises(requests.ConnectTimeout):
        sandbox_session.post(sandbox_url("/api_keys"), json=NEW_KEY, timeout=(1, 2))

    assert key_count(sandbox) == before
    assert sandbox.received == []


def test_a_timeout_after_raises_read_timeout_but_the_key_exists(
    sandbox, sandbox_session, sandbox_url
):
    before = key_count(sandbox)
    sandbox.faults.inject("/api_keys", "POST", timeout="after")

    with pytest.raises(requests.ReadTimeout):
        sandbox_session.post(sandbox_url("/api_keys"), json=NEW_KEY, timeout=(1, 2))

    assert key_count(sandbox) == before + 1
    assert sandbox.received[-1].json == NEW_KEY


def test_a_dropped_connection_raises_connection_error(sandbox, sandbox_session, sandbox_url):
    sandbox.faults.inject("*", "*", drop=True, times=1)

    with pytest.raises(requests.ConnectionError):
        sandbox_session.delete(sandbox_url("/api_keys"), params={"id": "x"})
    assert sandbox_session.get(sandbox_url("/api_keys")).status_code == 200


def test_malformed_json_cannot_be_decoded(sandbox, sandbox_session, sandbox_url):
    sandbox.faults.inject("/api_keys/rate_limits", malformed=True)

    response = sandbox_session.get(sandbox_url("/api_keys/rate_limits"))

    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_latency_beyond_the_read_timeout_is_a_read_timeout(sandbox, sandbox_session, sandbox_url):
    sandbox.faults.inject("/billing/balance", latency=5.0)

    with pytest.raises(requests.ReadTimeout):
        sandbox_session.get(sandbox_url("/billing/balance"), timeout=(0.01, 0.02))


def test_latency_within_the_timeout_only_delays(sandbox, sandbox_session, sandbox_url):
    fault = sandbox.faults.inject("/billing/balance", latency=0.01)

    assert sandbox_session.get(sandbox_url("/billing/balance"), timeout=5).status_code == 200
    assert fault.fired == 1


def test_a_rate_fails_about_that_fraction_of_calls_repeatably(sandbox):
    from accounts.sandbox.faults import Faults

    def failures(seed):
        faults = Faults(seed)
        faults.inject("/api_keys", status=500, rate=0.25)
        return [faults.pick("GET", "/api_keys") is not None for _ in range(400)]

    assert 60 <= sum(failures(1)) <= 140
    assert failures(1) == failures(1)


def test_path_patterns_and_methods_select_the_calls(sandbox):
    sandbox.faults.inject("/api_keys/*", "GET", status=503)

    assert sandbox.faults.pick("GET", "/api_keys/abc") is not None
    assert sandbox.faults.pick("POST", "/api_keys") is None
    assert sandbox.faults.pick("GET", "/billing/balance") is None


def test_clear_removes_every_fault(sandbox, sandbox_session, sandbox_url):
    sandbox.faults.inject("*", "*", status=500)
    sandbox.faults.clear()

    assert sandbox_session.get(sandbox_url("/api_keys")).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": "sometimes"}, {"rate": 1.5}, {"status": 200}, {"times": 0}, {"path": "api_keys"}],
)
def test_nonsense_faults_are_refused(sandbox, kwargs):
    with pytest.raises(ValueError):
        sandbox.faults.inject(**{"path": "/api_keys", **kwargs})
