"""Retries: only where repeating is safe, at most two, with exponential backoff and jitter,
waiting out a near 429 reset; time is the sandbox's frozen clock and waits are recorded."""

import random

import pytest

from accounts.venice import (
    NotFoundError,
    RateLimitedError,
    UpstreamUnavailableError,
)


def calls_to(sandbox, method, path):
    return sum(
        1 for request in sandbox.received if (request.method, request.path) == (method, path)
    )


def test_a_failing_get_is_tried_three_times_with_growing_jittered_waits(
    venice, sandbox, venice_sleep
):
    sandbox.faults.inject("/billing/balance", status=503)

    with pytest.raises(UpstreamUnavailableError):
        venice.billing.get_balance()

    assert calls_to(sandbox, "GET", "/billing/balance") == 3
    first, second = venice_sleep.calls
    assert 0.25 <= first <= 0.5  # 0.5 s with jitter in [50 %, 100 %]
    assert 0.5 <= second <= 1.0  # then 1 s


def test_the_jitter_differs_between_clients(make_venice, sandbox):
    sandbox.faults.inject("/billing/balance", status=503)
    waits = []
    for seed in (1, 2):
        sleep_calls = []
        client = make_venice(rng=random.Random(seed), sleep=sleep_calls.append)
        with pytest.raises(UpstreamUnavailableError):
            client.billing.get_balance()
        waits.append(sleep_calls)
        client.breaker.reset()

    assert waits[0] != waits[1]


def test_a_get_that_recovers_returns_the_answer(venice, sandbox, venice_sleep):
    sandbox.faults.inject("/billing/balance", status=502, times=1)

    balance = venice.billing.get_balance()

    assert balance.diem_epoch_allocation > 0
    assert calls_to(sandbox, "GET", "/billing/balance") == 2
    assert len(venice_sleep.calls) == 1


@pytest.mark.parametrize("fault", [{"timeout": "before"}, {"timeout": "after"}, {"drop": True}])
def test_timeouts_and_dropped_connections_are_retried_for_a_get(
    venice, sandbox, venice_sleep, fault
):
    injected = sandbox.faults.inject("/api_keys", times=2, **fault)

    assert venice.api_keys.list()
    assert injected.fired == 2  # two failed attempts, then the third answered
    assert len(venice_sleep.calls) == 2


def test_a_post_is_never_retried(venice, sandbox, venice_sleep):
    sandbox.faults.inject("/api_keys", "POST", status=503)

    with pytest.raises(UpstreamUnavailableError):
        venice.api_keys.create("Once only")

    assert calls_to(sandbox, "POST", "/api_keys") == 1
    assert venice_sleep.calls == []


def test_a_post_is_not_retried_after_a_429_either(venice, sandbox, venice_sleep):
    sandbox.faults.inject("/api_keys", "POST", status=429, reset_after=1, times=1)

    with pytest.raises(RateLimitedError):
        venice.api_keys.create("Once only")
    assert calls_to(sandbox, "POST", "/api_keys") == 1


def test_patch_and_delete_are_retried_because_they_are_idempotent(venice, sandbox):
    key = venice.api_keys.create("Retried")
    sandbox.faults.inject("/api_keys", "PATCH", status=503, times=2)
    sandbox.faults.inject("/api_keys", "DELETE", status=500, times=1)

    assert venice.api_keys.update(key.id, description="Retried twice").description == (
        "Retried twice"
    )
    assert venice.api_keys.delete(key.id) is True
    assert calls_to(sandbox, "PATCH", "/api_keys") == 3
    assert calls_to(sandbox, "DELETE", "/api_keys") == 2


def test_a_4xx_is_not_retried(venice, sandbox, venice_sleep):
    sandbox.faults.inject("/billing/balance", status=404)

    with pytest.raises(NotFoundError):
        venice.billing.get_balance()
    assert calls_to(sandbox, "GET", "/billing/balance") == 1
    assert venice_sleep.calls == []


def test_a_429_with_a_near_reset_is_waited_out_until_the_reset(
    venice, sandbox, venice_clock, venice_sleep
):
    started = venice_clock()
    sandbox.faults.inject("/billing/balance", status=429, reset_after=2, times=1)

    assert venice.billing.get_balance()

    reset = -(-int((started + 2) * 1000) // 1000)  # whole seconds, rounded up
    [wait] = venice_sleep.calls
    assert wait == pytest.approx(reset - started)
    assert calls_to(sandbox, "GET", "/billing/balance") == 2


def test_a_429_with_a_far_reset_is_raised_at_once(make_venice, sandbox, venice_sleep):
    client = make_venice(rate_limit_wait_cap=3)
    sandbox.faults.inject("/billing/balance", status=429, reset_after=10, times=1)

    with pytest.raises(RateLimitedError) as failure:
        client.billing.get_balance()
    assert failure.value.reset_at is not None
    assert venice_sleep.calls == []


def test_max_retries_is_configurable(make_venice, sandbox, venice_sleep):
    client = make_venice(max_retries=0)
    sandbox.faults.inject("/billing/balance", status=503)

    with pytest.raises(UpstreamUnavailableError):
        client.billing.get_balance()
    assert calls_to(sandbox, "GET", "/billing/balance") == 1
