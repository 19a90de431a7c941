"""Billing as finance staff click through it, at desktop and phone width, and the refusal a key
manager meets there."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import AuditAction, AuditEvent
from accounts.presentation.numbers import diem, usd
from accounts.roles import FINANCE, KEY_MANAGER

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(params=list(WIDTHS))
def width(request, page):
    page.set_viewport_size({"width": WIDTHS[request.param], "height": 900})
    return request.param


def _rows(download) -> list[dict]:
    text = download.path().read_text()
    return list(csv.DictReader(io.StringIO(text)))


def _total(rows: list[dict], column: str) -> Decimal:
    return sum((Decimal(row[column]) for row in rows if row[column]), Decimal(0))


def test_finance_answers_last_months_spend_by_key_and_model_in_two_clicks(login_as, sandbox, width):
    today = sandbox.clock.now().date()
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    page = login_as(FINANCE)

    # Click 1: Billing. Click 2: Last month.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    page.get_by_role("navigation", name="Period").get_by_role("link", name="Last month").click()

    expect(page.get_by_role("heading", name="Billing and usage")).to_be_visible()
    expect(
        page.get_by_text(f"Last month ({first:%b} 1 – {last:%b} {last.day}, {last.year})")
    ).to_be_visible()
    per_key = page.get_by_role("table", name="Spend per key, highest USD first")
    per_model = page.get_by_role("table", name="Spend per model, highest USD first")
    expect(per_key).to_be_visible()
    expect(per_model).to_be_visible()
    usd_total = page.locator(".stat").nth(0).inner_text()
    diem_total = page.locator(".stat").nth(1).inner_text()

    # The files for the same days: a spreadsheet sums them to the page's figures.
    with page.expect_download() as by_key:
        page.get_by_role("link", name="Spend by key, per day").click()
    assert by_key.value.suggested_filename == f"venice-spend-by-key-{first}_{last}.csv"
    rows = _rows(by_key.value)
    assert {row["day (UTC)"] for row in rows} <= {
        (first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)
    }
    assert usd(_total(rows, "usd")) == usd_total
    assert diem(_total(rows, "diem")) == diem_total

    with page.expect_download() as by_model:
        page.get_by_role("link", name="Spend by model, per day").click()
    rows = _rows(by_model.value)
    assert usd(_total(rows, "usd")) == usd_total
    assert diem(_total(rows, "diem")) == diem_total

    # Ranked by DIEM instead: the same keys, in DIEM order.
    page.get_by_role("navigation", name="Rank by currency").get_by_role("link", name="DIEM").click()
    expect(page.get_by_role("table", name="Spend per key, highest DIEM first")).to_be_visible()


def test_the_download_takes_the_dates_typed_even_before_they_are_applied(login_as, sandbox, width):
    today = sandbox.clock.now().date()
    first_day = today - timedelta(days=6)
    page = login_as(FINANCE)
    page.goto(reverse("billing:usage"))
    page.get_by_label("From").fill(first_day.isoformat())
    page.get_by_label("To (inclusive)").fill(today.isoformat())

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()  # no "Apply filters" first
    download = download_info.value

    assert download.suggested_filename == f"venice-usage-{first_day}_{today}.csv"
    rows = _rows(download)
    days = {row["timestamp_utc"][:10] for row in rows}
    assert days and min(days) >= first_day.isoformat() and max(days) <= today.isoformat()
    assert len(days) > 1  # the week, not just the day the page opened at
    export = AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert (export.actor_username, export.outcome) == ("as-finance", "succeeded")
    assert export.details["filters"] == {"from": first_day.isoformat(), "to": today.isoformat()}


def test_billing_hands_its_period_to_the_usage_history(login_as, sandbox, width):
    page = login_as(FINANCE)
    page.goto(reverse("billing:overview") + "?period=yesterday")
    page.get_by_role("link", name="Usage history for these days").click()
    yesterday = sandbox.clock.now().date() - timedelta(days=1)
    expect(page.get_by_label("From")).to_have_value(yesterday.isoformat())
    expect(page.get_by_label("To (inclusive)")).to_have_value(yesterday.isoformat())
    rows = page.get_by_role(
        "table",
        name=f"Usage history: {yesterday:%b} {yesterday.day}, {yesterday.year}, all currencies",
    ).get_by_role("row")
    expect(rows.first).to_be_visible()


def test_a_key_manager_opening_billing_gets_the_refusal_page(login_as):
    page = login_as(KEY_MANAGER)

    response = page.goto(reverse("billing:overview"))

    assert response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("balances, usage and costs")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing")
    ).to_have_count(0)
