"""Alerts in Chromium: a finance lead adds a Slack channel and sends it a test, sets a rule
telling her by email and Slack, and after check_alerts finds the firing under the bell."""

import re

import pytest
from playwright.sync_api import expect

from accounts.roles import AUDITOR, FINANCE
from accounts.services.alerts import alerts_check
from accounts.services.audit import audit_context_for_command

pytestmark = pytest.mark.browser


def test_a_finance_lead_sets_an_alert_and_finds_its_firing_under_the_bell(
    login_as, webhook_receiver, smtp_server, sandbox, settings
):
    settings.VENICE_CACHE_TTL = 0  # the balance is lowered below mid-test
    page = login_as(FINANCE, username="fran")
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="fran").update(email="fran@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="No rules yet")).to_be_visible()

    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Channels").click()
    page.get_by_role("link", name="New channel").click()
    page.get_by_role("radio", name=re.compile(r"^\s*Slack")).check()
    page.get_by_label("Name", exact=True).fill("#finance")
    page.get_by_label("Webhook URL", exact=True).fill(webhook_receiver.url)
    page.get_by_role("button", name="Add the channel").click()
    expect(page.get_by_role("heading", name="Channel “#finance” added")).to_be_visible()
    page.get_by_role("link", name="Back to the channels").click()
    row = page.get_by_role("row").filter(has_text="#finance")
    expect(row).to_contain_text("127.0.0.1")
    expect(row).not_to_contain_text("very-secret-path")
    row.get_by_role("button", name="Send test to #finance").click()
    expect(page.get_by_role("status").filter(has_text="Test message sent")).to_be_visible()
    assert webhook_receiver.received[-1].json["text"].startswith("Info: Test message")

    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Rules").click()
    page.get_by_role("link", name="New rule").click()
    page.get_by_role("link", name="Balance below").click()
    page.get_by_label("Below").fill("50")
    page.get_by_role("checkbox", name=re.compile(r"^\s*#finance")).check()
    page.get_by_label("Name", exact=True).fill("USD below $50")
    page.get_by_role("button", name="Save the rule").click()
    expect(page.get_by_role("status").filter(has_text="Rule “USD below $50” saved")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="USD below $50")).to_contain_text(
        "USD balance below $50.00"
    )

    sandbox.usd_balance = 12.0
    alerts_check(context=audit_context_for_command(command="check_alerts"))
    assert smtp_server.only_message_to("fran@example.com")
    page.reload()
    bell = page.get_by_role("banner").get_by_role("link", name="Notifications: 1 unread")
    bell.click()
    page.get_by_role("link", name="The USD balance is $12.00, below $50.00").click()
    expect(
        page.get_by_role("heading", name="The USD balance is $12.00, below $50.00")
    ).to_be_visible()
    expect(
        page.get_by_role("banner").get_by_role("link", name="Notifications: none unread")
    ).to_be_visible()
    page.get_by_role("link", name="Notification log").click()
    expect(page.get_by_role("row").filter(has_text="USD below $50")).to_contain_text(
        "Slack: #finance"
    )


def test_an_auditor_reads_the_rules_without_a_button_to_change_them(login_as, sandbox):
    from accounts.services.alerts import alert_rules_starter

    alert_rules_starter(context=audit_context_for_command(command="test"), notify=[])
    page = login_as(AUDITOR)
    page.goto("/alerts/")
    expect(page.get_by_role("row").filter(has_text="Keys expiring within 14 days")).to_be_visible()
    expect(page.get_by_role("link", name="New rule")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Switch off"))).to_have_count(0)
