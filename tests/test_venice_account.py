"""client.account: the dashboard summary (concurrent, one failure blanks one part) and the
rate-limit status."""

import time
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from accounts.venice import (
    AccountSummary,
    APIKey,
    Balance,
    RateLimits,
    RateLimitStatus,
    UpstreamUnavailableError,
    UsageAnalytics,
)


def test_the_summary_has_every_part(venice):
    summary = venice.account.get_account_summary()

    assert isinstance(summary, AccountSummary)
    assert isinstance(summary.balance, Balance)
    assert isinstance(summary.rate_limits, RateLimits)
    assert summary.api_keys and all(isinstance(key, APIKey) for key in summary.api_keys)
    assert isinstance(summary.usage, UsageAnalytics) and summary.usage.lookback == "7d"
    assert isinstance(summary.rate_limit_status, RateLimitStatus)
    assert summary.errors == {}


def test_the_summary_reads_as_the_seeds_dict(venice, sandbox):
    summary = venice.account.get_account_summary()

    assert isinstance(summary, Mapping)
    assert set(summary) == {
        "api_keys",
        "usage",
        "rate_limits",
        "balance",
        "rate_limit_status",
        "errors",
    }
    assert "api_keys" in summary and len(summary["api_keys"]) == len(sandbox.key_ids())
    assert summary["rate_limits"] is summary.rate_limits
    usage = summary["usage"]
    assert usage.get("total_usage") == summary.usage.total_usd  # the same 7 days
    assert usage["current_period"] == "7d"
    assert usage["credits_remaining"] == Decimal(str(sandbox.usd_balance))
    assert dict(summary)["errors"] == {}


def test_a_failed_part_is_left_out_of_the_seeds_dict(venice, sandbox):
    sandbox.faults.inject("/billing/balance", status=503)

    summary = venice.account.get_account_summary()

    assert "balance" not in summary and "usage" not in summary  # usage needs the balance
    assert "api_keys" in summary and set(summary["errors"]) == {"balance"}


def test_a_failed_part_is_none_with_its_error_and_the_rest_is_there(venice, sandbox):
    sandbox.faults.inject("/billing/balance", status=503)

    summary = venice.account.get_account_summary()

    assert summary.balance is None
    assert isinstance(summary.errors["balance"], UpstreamUnavailableError)
    assert set(summary.errors) == {"balance"}
    assert summary.api_keys and summary.rate_limits and summary.usage and summary.rate_limit_status


def test_a_failed_log_blanks_only_the_status(venice, sandbox):
    sandbox.faults.inject("/api_keys/rate_limits/log", status=500)

    summary = venice.account.get_account_summary()

    assert summary.rate_limit_status is None
    assert set(summary.errors) == {"rate_limit_status"}
    assert summary.rate_limits is not None


def test_the_summary_takes_about_as_long_as_its_slowest_call(make_venice, sandbox):
    """Five calls of 0.3 s each: one after another they would take 1.5 s."""
    client = make_venice(cache_ttl=0)
    latency = 0.3
    sandbox.faults.inject("*", "GET", latency=latency)

    started = time.perf_counter()
    summary = client.account.get_account_summary()
    elapsed = time.perf_counter() - started

    assert summary.errors == {}
    calls = len(sandbox.received)
    assert calls == 5
    assert elapsed < 0.5 * calls * latency  # well under the sum (generous margin)
    assert elapsed >= latency  # and it did wait for the slowest


def test_the_status_warns_after_a_violation_in_the_last_day(venice, sandbox, venice_clock):
    # Start from a quiet day: move past every seeded violation.
    venice_clock.advance(3 * 86400)
    sandbox.record_rate_limit_violation(sandbox.inference_key, kind="RPM")

    status = venice.account.check_rate_limit_status()

    assert status.status == "warning"
    assert status.violations_last_24h == 1
    assert status.get("message").startswith("1 rate limit(s) exceeded in the last 24 hours")
    assert "RPM on zai-org-glm-5-1" in status.message
    assert abs(status.last_violation.timestamp.timestamp() - venice_clock()) < 0.001
    assert status.tier_id == "paid" and status.access_permitted


def test_the_status_is_ok_a_day_after_the_last_violation(make_venice, sandbox, venice_clock):
    sandbox.record_rate_limit_violation(sandbox.inference_key)
    venice_clock.advance(timedelta(hours=25).total_seconds())

    status = make_venice().account.check_rate_limit_status()

    assert status.status == "ok" and status.violations_last_24h == 0
    assert status["message"] == "No rate limit exceeded in the last 24 hours."
    assert status.last_violation is not None


def test_the_status_is_blocked_when_the_account_cannot_consume(venice, sandbox):
    sandbox.usd_balance = 0.0
    sandbox.diem_epoch_allocation = 0.0

    status = venice.account.check_rate_limit_status()

    assert status.status == "blocked" and not status.access_permitted
    assert status.get("status") == "blocked" and "does not permit" in status.get("message")


def test_the_status_reads_as_the_seeds_dict_with_the_current_usage(venice, sandbox):
    status = venice.account.check_rate_limit_status()
    limits = venice.api_keys.get_rate_limits()  # the cached answer the status was made from

    assert isinstance(status, Mapping)
    assert status.get("status") == status.status == "warning"  # the seed's recent violations
    assert "current_usage" in status
    assert status["current_usage"] == limits.current_usage and status["current_usage"]["requests"]
    assert dict(status)["tier_id"] == "paid"
    assert set(status) >= {"status", "message", "current_usage", "violations_last_24h"}
