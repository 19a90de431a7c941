"""Billing as finance staff click through it, and the refusal a key manager meets there."""

import csv
import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import AuditAction, AuditEvent
from accounts.roles import FINANCE, KEY_MANAGER
from accounts.venice import get_client

pytestmark = pytest.mark.browser


def test_finance_downloads_a_weeks_usage_as_csv(login_as):
    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=6)
    page = login_as(FINANCE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    page.get_by_role("link", name="Usage history").click()
    page.get_by_label("From").fill(first_day.isoformat())
    page.get_by_label("To (inclusive)").fill(today.isoformat())
    page.get_by_role("button", name="Apply filters").click()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value

    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(download.path().read_text())))
    week = list(
        get_client().billing.iter_usage_history(
            start=datetime.combine(first_day, time.min, tzinfo=UTC),
            end=datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC),
        )
    )
    assert len(rows) - 1 == len(week) > 0  # a header, then every entry of the week
    assert not any(row and row[0] == "ERROR" for row in rows)
    export = AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert (export.actor_username, export.outcome) == ("as-finance", "succeeded")


def test_a_key_manager_opening_billing_gets_the_refusal_page(login_as):
    page = login_as(KEY_MANAGER)

    response = page.goto(reverse("billing:overview"))

    assert response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("balances, usage and costs")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing")
    ).to_have_count(0)
