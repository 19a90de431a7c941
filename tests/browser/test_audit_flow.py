"""An auditor reading the audit log as sentences and narrowing it down, in Chromium, at desktop
and phone width."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import AuditAction, AuditEvent
from accounts.roles import AUDITOR, KEY_MANAGER
from accounts.services.audit import AuditContext, audit_log
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(params=list(WIDTHS))
def width(request, page):
    page.set_viewport_size({"width": WIDTHS[request.param], "height": 900})
    return request.param


@pytest.fixture
def recorded_changes():
    """Records by a key manager, as the key pages would have written them: two keys' lives,
    one of them deleted."""
    kim = UserFactory(username="kim", role=KEY_MANAGER)
    context = AuditContext(
        user=kim,
        username="kim",
        role=KEY_MANAGER,
        ip="198.51.100.7",
        user_agent="Mozilla/5.0 (test)",
        request_id="req-audit-flow",
    )

    def log(action, key_id, description, last6, **fields):
        audit_log(
            context, action=action, key_id=key_id, description=description, last6=last6, **fields
        )

    log(AuditAction.KEY_CREATED, "k-1", "Build bot", "Bb1234")
    log(
        AuditAction.KEY_UPDATED,
        "k-1",
        "Build bot",
        "Bb1234",
        changes={"consumption_limits.usd": ["10", "20"]},
    )
    log(AuditAction.KEY_CREATED, "k-2", "Old laptop", "Ol9876")
    log(AuditAction.KEY_DELETED, "k-2", "Old laptop", "Ol9876")


def _rows(page):
    return page.get_by_role("table", name="Audit records").get_by_role("row")


def test_an_auditor_reads_the_log_as_sentences(login_as, recorded_changes, width):
    page = login_as(AUDITOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    rows = _rows(page)
    # The header, the auditor's own sign-in a moment ago, and the four records.
    expect(rows).to_have_count(6)
    expect(rows.nth(1)).to_contain_text("signed in")
    expect(rows.nth(2)).to_contain_text("kim deleted “Old laptop” …Ol9876.")
    expect(rows.nth(4)).to_contain_text(
        "kim changed “Build bot” …Bb1234: USD limit from $10.00 to $20.00."
    )
    # The codes are one click away.
    codes = rows.nth(2).get_by_text("Codes")
    codes.click()
    expect(rows.nth(2).get_by_text("key.deleted")).to_be_visible()


def test_an_auditor_finds_everything_that_happened_to_a_key_by_typing_its_name(
    login_as, recorded_changes, width
):
    page = login_as(AUDITOR)
    page.goto("/audit/")
    page.get_by_role("searchbox", name="Key").fill("laptop")
    page.get_by_role("button", name="Filter").click()
    rows = _rows(page)
    expect(rows).to_have_count(3)  # the header, its deletion and its creation
    expect(rows.nth(1)).to_contain_text("deleted “Old laptop”")
    expect(rows.nth(2)).to_contain_text("created “Old laptop”")
    assert "key=laptop" in page.url  # the filtered view has its own address


def test_an_auditor_filters_by_several_actions_at_once(login_as, recorded_changes, width):
    page = login_as(AUDITOR)
    page.goto("/audit/")
    page.get_by_text("Any action").click()
    page.get_by_label("Key deleted", exact=True).check()
    page.get_by_label("Key changed").check()
    page.get_by_role("button", name="Filter").click()
    rows = _rows(page)
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("kim deleted")
    expect(rows.nth(2)).to_contain_text("kim changed")
    assert "action=key.updated" in page.url and "action=key.deleted" in page.url


def test_the_audit_download_takes_the_dates_typed_even_before_they_are_applied(
    login_as, recorded_changes, width
):
    today = timezone.now().date()
    start = today - timedelta(days=7)
    page = login_as(AUDITOR)
    page.goto("/audit/")
    page.get_by_label("From").fill(start.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()  # not "Filter" first
    download = download_info.value
    assert download.suggested_filename == f"audit-{start}_{today}.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text())))
    assert len(rows) == 5  # the four records and the auditor's sign-in
    assert "signed in" in rows[0]["summary"]
    assert rows[1]["summary"].startswith("kim deleted “Old laptop”")
    export = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert export.details["filters"] == {
        "date_from": start.isoformat(),
        "date_to": today.isoformat(),
    }
    # The page itself was not swapped for the file (HTMX leaves a download alone).
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
