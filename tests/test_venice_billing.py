"""client.billing against the sandbox: balance, analytics, the usage-history walks, and the
original SDK's summaries built from them."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.venice import (
    Balance,
    BillingError,
    CSVPage,
    Currency,
    ModelUsage,
    UsageAnalytics,
    UsageEntry,
    UsageInfo,
    ValidationError,
)


def history_requests(sandbox):
    return [request for request in sandbox.received if request.path == "/billing/usage-history"]


def test_the_balance_is_typed(venice, sandbox):
    balance = venice.billing.get_balance()

    assert isinstance(balance, Balance)
    assert isinstance(balance.diem_epoch_allocation, Decimal)
    assert balance.usd is None or isinstance(balance.usd, Decimal)
    assert balance.can_consume in (True, False)


def test_analytics_send_the_lookback(venice, sandbox):
    analytics = venice.billing.get_usage_analytics("30d")

    assert isinstance(analytics, UsageAnalytics)
    assert analytics.lookback == "30d"
    assert sandbox.received[-1].query == {"lookback": ["30d"]}
    assert analytics.by_model and all(isinstance(m, ModelUsage) for m in analytics.by_model)
    assert analytics.total_usd == sum((day.usd for day in analytics.by_date), Decimal(0))


def test_analytics_between_dates_send_both_dates(venice, sandbox, venice_clock):
    today = datetime.fromtimestamp(venice_clock(), UTC).date()
    venice.billing.get_usage_analytics(start=today - timedelta(days=10), end=today)

    assert sandbox.received[-1].query == {
        "startDate": [(today - timedelta(days=10)).isoformat()],
        "endDate": [today.isoformat()],
    }
    with pytest.raises(ValueError):
        venice.billing.get_usage_analytics(start=date(2026, 1, 1))


def test_the_history_walk_yields_every_entry_in_order_one_page_at_a_time(
    venice, sandbox, venice_clock
):
    now = datetime.fromtimestamp(venice_clock(), UTC)
    start, end = now - timedelta(days=2), now
    expected = sandbox.ledger_entries(start=start, end=end)
    assert len(expected) > 25  # enough for several pages of 10

    walk = venice.billing.iter_usage_history(start=start, end=end, page_size=10)
    assert history_requests(sandbox) == []  # nothing is fetched before it is asked for
    first = next(walk)
    assert len(history_requests(sandbox)) == 1
    entries = [first, *walk]

    assert all(isinstance(entry, UsageEntry) for entry in entries)
    assert len(entries) == len(expected)
    assert [entry.sku for entry in entries] == [item["sku"] for item in expected]
    assert entries == sorted(entries, key=lambda entry: entry.timestamp)
    requests = history_requests(sandbox)
    assert len(requests) == -(-len(expected) // 10)  # pages of 10, no empty last page
    assert set(requests[0].query) == {"pageSize", "startTimestamp", "endTimestamp"}
    assert all(set(request.query) == {"cursor"} for request in requests[1:])


def test_the_history_walk_filters_by_currency(venice, sandbox, venice_clock):
    now = datetime.fromtimestamp(venice_clock(), UTC)
    sandbox.use_key(sandbox.inference_key, usd=1.5, diem=2)
    entries = list(
        venice.billing.iter_usage_history(currency=Currency.USD, start=now - timedelta(minutes=1))
    )

    assert [(entry.currency, entry.amount) for entry in entries] == [
        (Currency.USD, Decimal("-1.5"))
    ]
    assert history_requests(sandbox)[0].query["currency"] == ["USD"]


def test_a_continuation_takes_no_filters(venice):
    with pytest.raises(ValueError):
        venice.billing.get_usage_history_page(cursor="abc", currency=Currency.USD)


def test_the_csv_walk_follows_the_next_cursor_header(venice, sandbox, venice_clock):
    now = datetime.fromtimestamp(venice_clock(), UTC)
    start, end = now - timedelta(days=2), now
    expected = sandbox.ledger_entries(start=start, end=end)

    pages = list(venice.billing.iter_usage_history_csv(start=start, end=end, page_size=10))

    assert all(isinstance(page, CSVPage) for page in pages)
    assert pages[-1].next_cursor is None and all(page.next_cursor for page in pages[:-1])
    assert all(page.filename.startswith("billing-usage-history-") for page in pages)
    rows = [row for page in pages for row in list(csv.reader(io.StringIO(page.text)))[1:]]
    assert len(rows) == len(expected)
    requests = history_requests(sandbox)
    assert all(request.headers["accept"] == "text/csv" for request in requests)
    assert all(set(request.query) == {"cursor"} for request in requests[1:])


def test_get_usage_combines_balance_and_analytics(venice):
    usage = venice.billing.get_usage()
    analytics = venice.billing.get_usage_analytics("30d")
    balance = venice.billing.get_balance()

    assert isinstance(usage, UsageInfo)
    assert usage.lookback == "30d"
    assert usage.usd_used == analytics.total_usd
    assert usage.diem_used == analytics.total_diem
    assert usage.usd_balance == balance.usd
    assert usage.diem_epoch_allocation == balance.diem_epoch_allocation


def test_get_usage_answers_the_seeds_names_from_the_same_two_answers(venice, sandbox):
    usage = venice.billing.get_usage()
    analytics = venice.billing.get_usage_analytics("30d")

    assert usage.total_usage == analytics.total_usd and isinstance(usage.total_usage, Decimal)
    assert usage.credits_remaining == Decimal(str(sandbox.usd_balance))
    assert usage.current_period == "30d"
    first, last = min(d.date for d in analytics.by_date), max(d.date for d in analytics.by_date)
    assert usage.billing_period_start == datetime(first.year, first.month, first.day, tzinfo=UTC)
    assert usage.billing_period_end - timedelta(days=1) == datetime(
        last.year, last.month, last.day, tzinfo=UTC
    )
    glm = next(model for model in analytics.by_model if model.model_name == "GLM 5.1")
    assert usage.usage_by_model["GLM 5.1"] == {
        "requests": None,  # Venice does not count requests per model
        "tokens": glm.total_units,
        "cost": glm.total_usd,
        "cost_diem": glm.total_diem,
        "units": glm.total_units,
        "unit_type": "tokens",
    }
    assert list(usage.usage_by_model) == [model.model_name for model in analytics.by_model]


def test_a_model_usage_answers_the_seeds_names(venice):
    by_model = venice.billing.get_usage_by_model()

    glm = by_model["GLM 5.1"]
    assert glm.model_id == "GLM 5.1" and glm.cost == glm.total_usd
    assert glm.tokens == glm.total_units and glm.requests is None
    image = next(model for model in by_model.values() if model.unit_type == "images")
    assert image.tokens is None  # counted in images, not tokens


def test_the_billing_summary_has_the_seeds_keys(venice, sandbox):
    summary = venice.billing.get_billing_summary()
    analytics = venice.billing.get_usage_analytics("30d")

    assert summary["current_balance"] == Decimal(str(sandbox.usd_balance))
    assert summary["total_spent"] == analytics.total_usd
    assert summary["subscription_status"] == "active"


def test_the_seeds_summaries_come_from_the_live_endpoints(venice, sandbox):
    by_model = venice.billing.get_usage_by_model()
    summary = venice.billing.get_billing_summary()
    analytics = venice.billing.get_usage_analytics("30d")

    assert list(by_model) == [model.model_name for model in analytics.by_model]
    assert summary["usd_used"] == analytics.total_usd
    assert summary["by_model"] == by_model
    assert venice.billing.get_credits_remaining() == venice.billing.get_balance().usd
    assert venice.billing.get_total_usage() == analytics.total_usd
    assert not any(request.path == "/billing/usage" for request in sandbox.received)


def test_a_walk_whose_cursor_expired_raises_a_validation_error(venice, sandbox, venice_clock):
    walk = venice.billing.iter_usage_history(page_size=10)
    for _ in range(10):
        next(walk)  # the first page, read
    venice_clock.advance(25 * 3600)  # the cursor lives a day

    with pytest.raises(ValidationError) as failure:
        next(walk)
    assert "cursor" in failure.value.field_errors
    assert isinstance(failure.value, BillingError)
