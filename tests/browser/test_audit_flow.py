"""An auditor reading the audit log and narrowing it down, in Chromium."""

import pytest
from playwright.sync_api import expect

from accounts.models import AuditAction
from accounts.roles import AUDITOR, KEY_MANAGER
from accounts.services.audit import AuditContext, audit_log
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def recorded_changes():
    """Three records by a key manager, as the key pages would have written them."""
    kim = UserFactory(username="kim", role=KEY_MANAGER)
    context = AuditContext(
        user=kim,
        username="kim",
        role=KEY_MANAGER,
        ip="198.51.100.7",
        user_agent="Mozilla/5.0 (test)",
        request_id="req-audit-flow",
    )
    audit_log(context, action=AuditAction.KEY_CREATED, key_id="k-1", description="Build bot")
    audit_log(context, action=AuditAction.KEY_UPDATED, key_id="k-1", description="Build bot")
    audit_log(context, action=AuditAction.KEY_DELETED, key_id="k-2", description="Old laptop")


def test_an_auditor_filters_the_log_by_action(login_as, recorded_changes):
    page = login_as(AUDITOR)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    rows = page.get_by_role("table", name="Audit records").get_by_role("row")
    # The header, the three records, and the auditor's own login a moment ago.
    expect(rows).to_have_count(5)
    expect(rows.nth(1)).to_contain_text("auth.login_succeeded")

    page.get_by_label("Action").select_option(label="Key deleted")
    page.get_by_role("button", name="Filter").click()

    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("key.deleted")
    expect(rows.nth(1)).to_contain_text("Old laptop")
    assert "action=key.deleted" in page.url  # the filtered view has its own address
