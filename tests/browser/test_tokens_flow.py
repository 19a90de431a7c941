"""A Key manager makes an API token on their account page, a CI job uses it over HTTP to
create a limited key and delete it again, and an Auditor reads both steps as that member's
token on the audit log."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import AUDITOR, KEY_MANAGER

pytestmark = pytest.mark.browser


def test_a_token_made_on_the_page_drives_the_api_and_the_audit_log_names_it(
    login_as, page, portal, sandbox
):
    login_as(KEY_MANAGER, username="kim")
    page.get_by_role("link", name="Your account").click()
    page.get_by_role("link", name="Your API tokens").click()
    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_label("In 30 days").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("The new token").inner_text().strip()
    expect(page.get_by_role("table")).to_contain_text("CI pipeline")

    ci = requests.Session()
    ci.headers["Authorization"] = f"Bearer {secret}"
    expires = (timezone.now() + timedelta(hours=6)).isoformat()
    created = ci.post(
        f"{portal.url}/api/v1/keys",
        json={"description": "Test run 88", "usd_limit": "2", "expires_at": expires},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert sandbox.find_key(key["secret"]) is not None
    assert ci.delete(f"{portal.url}/api/v1/keys/{key['id']}", timeout=30).status_code == 204

    page.get_by_role("button", name="Log out").click()
    login_as(AUDITOR)
    page.goto("/audit/")
    rows = page.get_by_role("table", name="Audit records").get_by_role("row")
    expect(rows.filter(has_text="“Test run 88”")).to_have_count(2)
    expect(rows.filter(has_text="kim (with the API token “CI pipeline”) deleted")).to_have_count(1)
    expect(rows.filter(has_text="kim (with the API token “CI pipeline”) created")).to_have_count(1)
