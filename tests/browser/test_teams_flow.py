"""Teams as people click through them: an Administrator assigns several keys to a team from the
key list, and a finance lead picks a month on the cost allocation and downloads its files."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import AuditAction, AuditEvent, KeyOwnership, Team
from accounts.presentation.numbers import diem, usd
from accounts.roles import ADMINISTRATOR, FINANCE

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(params=list(WIDTHS))
def width(request, page):
    page.set_viewport_size({"width": WIDTHS[request.param], "height": 900})
    return request.param


def test_an_administrator_assigns_keys_to_a_team_in_bulk(login_as, sandbox, width, db):
    team = Team.objects.create(name="Data science", slug="data-science")
    page = login_as(ADMINISTRATOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    picks = page.get_by_role("checkbox", name="Select “")
    expect(picks.first).to_be_visible()
    chosen = []
    for index in range(2):
        box = picks.nth(index)
        chosen.append(box.get_attribute("value"))
        box.check()
    bulk = page.get_by_role("group", name="Assign the ticked keys")
    bulk.get_by_label("Team").select_option(label="Data science")
    bulk.get_by_label("…or a contact").fill("data-oncall@example.com")
    bulk.get_by_role("button", name="Assign").click()

    expect(page.get_by_text("Assigned 2 keys to Data science (2 changed).")).to_be_visible()
    assert set(KeyOwnership.objects.filter(team=team).values_list("key_id", flat=True)) == set(
        chosen
    )
    assert AuditEvent.objects.filter(action=AuditAction.KEY_ASSIGNED).count() == 2

    # Grouped by team, the two keys sit under its heading; the team page lists them.
    page.get_by_label("Group by").select_option(label="Team")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("rowheader", name="Data science 2 keys")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams").click()
    page.get_by_role("link", name="Data science").click()
    expect(page.get_by_role("heading", name="Data science", level=1)).to_be_visible()
    expect(page.get_by_text("data-oncall@example.com").first).to_be_visible()


def _rows(download) -> list[dict]:
    return list(csv.DictReader(io.StringIO(download.path().read_text())))


def test_a_finance_lead_picks_last_month_and_downloads_the_chargeback_files(
    login_as, sandbox, width, db
):
    today = sandbox.clock.now().date()
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    page = login_as(FINANCE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    page.get_by_role("link", name="Cost allocation by team").click()
    page.get_by_label("Month").fill(f"{first:%Y-%m}")
    page.get_by_role("button", name="Show month").click()

    expect(page.get_by_role("heading", name="Cost allocation")).to_be_visible()
    check = page.get_by_role("region", name="Check against the account's total")
    expect(check.get_by_text("adds up")).to_be_visible()

    with page.expect_download() as plain:
        page.get_by_role("link", name="Download CSV").click()
    assert plain.value.suggested_filename == f"venice-allocation-{first}_{last}.csv"
    rows = _rows(plain.value)
    total_usd = sum((Decimal(r["usd"]) for r in rows), Decimal(0))
    total_diem = sum((Decimal(r["diem"]) for r in rows), Decimal(0))
    expect(check.get_by_text(f"Teams {usd(total_usd)}")).to_be_visible()
    expect(check.get_by_text(f"teams {diem(total_diem)}")).to_be_visible()

    with page.expect_download() as focus:
        page.get_by_role("link", name="Download FOCUS").click()
    assert focus.value.suggested_filename == f"venice-allocation-focus-{first}_{last}.csv"
    focus_rows = _rows(focus.value)
    assert sum((Decimal(r["BilledCost"]) for r in focus_rows), Decimal(0)) == total_usd
    exports = AuditEvent.objects.filter(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert {e.details["export"] for e in exports} == {"allocation", "allocation-focus"}
