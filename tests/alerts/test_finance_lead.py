"""Issue 19's "done when": a finance lead sets "tell me by email and Slack when the USD
balance drops below $50 or any key passes 90 % of its limit", goes home, and gets exactly one
message per event — and the log shows each one."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AlertEvent
from accounts.venice import ConsumptionLimits, LimitPeriod

pytestmark = pytest.mark.django_db


def test_a_finance_lead_gets_exactly_one_message_per_event_and_the_log_shows_each(
    client, fran, smtp_server, webhook_receiver, sandbox, alert_venice, alert_clock, check_alerts
):
    sandbox.usd_balance = 180.0
    budgeted = alert_venice.api_keys.create(
        "Budgeted service",
        consumption_limits=ConsumptionLimits(usd=Decimal("100")),
        limit_period=LimitPeriod.MONTH,
    )
    client.force_login(fran)

    # Her Slack channel (the receiver stands in for hooks.slack.com), then the two rules.
    client.post(
        reverse("alerts:channel_new"),
        {"kind": "slack", "name": "#finance", "url": webhook_receiver.url},
    )
    slack = re.search(
        r'value="(\d+)"[^>]*>\s*#finance',
        client.get(reverse("alerts:new_kind", args=["balance_below"])).content.decode(),
    )
    told = {"notify_users": [fran.pk], "email_users": "on", "channels": [slack.group(1)]}
    for kind, fields in (
        ("balance_below", {"currency": "USD", "amount": "50", "name": "USD below $50"}),
        ("key_limit", {"thresholds": "90", "scope": "all", "name": "Any key past 90 %"}),
    ):
        response = client.post(
            reverse("alerts:new_kind", args=[kind]), {**fields, **told, "enabled": "on"}
        )
        assert response.status_code == 302, response.content.decode()[:2000]

    # She goes home. Cron runs check_alerts every five minutes through the night.
    def night(runs):
        for _ in range(runs):
            alert_clock.advance(timedelta(minutes=5))
            check_alerts()

    night(6)
    assert not smtp_server.messages and not webhook_receiver.received  # nothing is true yet

    sandbox.use_key(budgeted.id, usd=92.0)  # 3 a.m.: the key passes 90 % of its limit
    night(6)
    sandbox.usd_balance = 42.0  # later the balance drops below $50
    night(12)

    events = list(AlertEvent.objects.order_by("pk"))
    assert [event.title for event in events] == [
        f"Key “Budgeted service” (…{budgeted.last6}) is at 92 % of its USD limit "
        "($92.00 of $100.00)",
        "The USD balance is $42.00, below $50.00",
    ]
    # Exactly one email and one Slack message per event.
    assert [message["To"] for message in smtp_server.messages] == ["fran@example.com"] * 2
    subjects = [" ".join(str(m["Subject"]).split()) for m in smtp_server.messages]
    assert [subject.removeprefix("[Venice portal] ") for subject in subjects] == [
        f"Warning: {event.title}" for event in events
    ]
    assert [r.json["text"] for r in webhook_receiver.received] == [
        f"Warning: {event.title}" for event in events
    ]
    # The log shows each, with both deliveries sent and her bell.
    log = client.get(reverse("alerts:log")).content.decode()
    for event in events:
        assert event.title in log
    assert log.count(">sent</span> Email: fran@example.com") == 2
    assert log.count(">sent</span> Slack: #finance") == 2
    assert log.count("in the portal to Fran") == 2
    page = client.get(reverse("dashboard")).content.decode()
    assert "Notifications: 2 unread" in page
