"""/billing/spend-by-key.csv and /billing/spend-by-model.csv: every key's and every model's
USD and DIEM per day, one analytics call per day, adding up to the analytics of the range."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.forms import RANGE_TOO_LONG
from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.presentation import names
from accounts.services.usage_csv import BY_KEY_COLUMNS, BY_MODEL_COLUMNS
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = pytest.mark.django_db

ANALYTICS = "/billing/usage-analytics"
# The analytics round each figure to 6 decimals: a day's rounding is at most half a millionth.
ROUNDING = Decimal("0.0000005")


def _analytics(sandbox_session, sandbox_url, start: date, end: date) -> dict:
    query = f"startDate={start.isoformat()}&endDate={end.isoformat()}"
    return sandbox_session.get(sandbox_url(f"{ANALYTICS}?{query}")).json(parse_float=Decimal)


def _rows(client, url_name, start: date, end: date) -> tuple[list[str], list[dict], object]:
    response = client.get(reverse(url_name), {"start": start.isoformat(), "end": end.isoformat()})
    assert response.status_code == 200, response.content[:400]
    rows = read_csv(streamed_text(response))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]], response


@pytest.fixture
def week(sandbox) -> tuple[date, date]:
    yesterday = sandbox.clock.now().date() - timedelta(days=1)
    return yesterday - timedelta(days=6), yesterday


def _close(total: Decimal, expected: Decimal, days: int) -> bool:
    """Equal but for rounding: each day's figure and the range's own are rounded once each."""
    return abs(total - expected) <= ROUNDING * (days + 1)


def test_spend_by_key_adds_up_to_the_analytics_web_app_included(
    finance_client, sandbox, sandbox_session, sandbox_url, week
):
    start, end = week
    header, rows, response = _rows(finance_client, "billing:spend_by_key_csv", start, end)
    assert tuple(header) == BY_KEY_COLUMNS
    assert response["Content-Disposition"] == (
        f'attachment; filename="venice-spend-by-key-{start}_{end}.csv"'
    )
    analytics = _analytics(sandbox_session, sandbox_url, start, end)
    assert len(analytics["byKey"]) > 8  # more keys than byKeyDaily's top 8
    for key in analytics["byKey"]:
        mine = [r for r in rows if r["key_id"] == (key["apiKeyId"] or "")]
        assert mine, key["description"]
        assert {r["key_description"] for r in mine} == {key["description"]}
        for currency, total in (("usd", key["totalUsd"]), ("diem", key["totalDiem"])):
            assert _close(sum(Decimal(r[currency]) for r in mine), total, 7), (key, currency)
    web = [r for r in rows if r["key_id"] == ""]
    assert web and {r["key_description"] for r in web} == {"Web App"}
    # One analytics call per day of the range.
    days = {r.query["startDate"][0] for r in sandbox.received if r.path == ANALYTICS}
    assert {start + timedelta(days=n) for n in range(7)} <= {date.fromisoformat(d) for d in days}


def test_spend_by_model_adds_up_to_the_analytics_with_real_units(
    finance_client, sandbox_session, sandbox_url, week
):
    start, end = week
    header, rows, response = _rows(finance_client, "billing:spend_by_model_csv", start, end)
    assert tuple(header) == BY_MODEL_COLUMNS
    assert f"venice-spend-by-model-{start}_{end}.csv" in response["Content-Disposition"]
    analytics = _analytics(sandbox_session, sandbox_url, start, end)
    for model in analytics["byModel"]:
        mine = [r for r in rows if r["model"] == model["modelName"]]
        unit = names.unit_of(model["unitType"])
        assert {r["unit"] for r in mine} == {unit.name}
        assert {r["model_id"] for r in mine} == {names.model_id_for_name(model["modelName"])}
        for currency, total in (("usd", model["totalUsd"]), ("diem", model["totalDiem"])):
            assert _close(sum(Decimal(r[currency]) for r in mine), total, 7)
        units = sum(Decimal(r["units"]) for r in mine)
        assert _close(units / unit.per_ledger_unit, model["totalUnits"], 7)
    # A day's rows never add tokens to seconds: each row is one model, in its own unit.
    assert {r["unit"] for r in rows} <= {"tokens", "images", "chars", "seconds"}


def test_the_exports_are_audited_with_their_days(finance_client, week):
    start, end = week
    _rows(finance_client, "billing:spend_by_model_csv", start, end)
    record = AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.details["export"] == "spend-by-model"
    assert record.details["filters"] == {"from": start.isoformat(), "to": end.isoformat()}
    assert record.details["rows"] > 0


def test_without_days_they_cover_this_month(finance_client, sandbox):
    today = sandbox.clock.now().date()
    response = finance_client.get(reverse("billing:spend_by_key_csv"))
    assert f"{today.replace(day=1)}_{today}.csv" in response["Content-Disposition"]
    response.close()


def test_a_range_longer_than_a_year_is_refused_before_venice_is_asked(finance_client, sandbox):
    today = sandbox.clock.now().date()
    response = finance_client.get(
        reverse("billing:spend_by_key_csv"),
        {"start": (today - timedelta(days=400)).isoformat(), "end": today.isoformat()},
    )
    assert response.status_code == 400
    assert RANGE_TOO_LONG in response.content.decode()
    assert not sandbox.received
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("url_name", ["billing:spend_by_key_csv", "billing:spend_by_model_csv"])
def test_an_upstream_failure_at_the_start_is_a_page(finance_client, sandbox, no_backoff, url_name):
    sandbox.faults.inject(ANALYTICS, status=503)
    response = finance_client.get(reverse(url_name))
    assert response.status_code == 502
    assert b"Try again in a minute" in response.content
