"""Delivery: email over a real SMTP server, webhooks to a real HTTP receiver that checks the
signature, and what happens when either fails: retried three times over about fifteen
minutes, a webhook answering 410 switched off with a notice, every try in the log."""

import json
from datetime import timedelta

import pytest

from accounts.delivery import sign
from accounts.models import (
    AlertAttempt,
    AlertChannel,
    AlertDelivery,
    AlertKind,
    AlertNotification,
    AlertSystemKind,
    AuditEvent,
)
from tests.fixtures.webhooks import verify_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_balance(sandbox):
    """The condition most tests fire: the USD balance at $12.34, below a $50 rule."""
    sandbox.usd_balance = 12.34


def test_a_firing_is_one_email_over_smtp_readable_as_text_with_an_html_part(
    smtp_server, make_rule, check_alerts, low_balance, fran
):
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[fran], by=fran, name="Low balance")
    for _ in range(3):
        check_alerts()
    message = smtp_server.only_message_to("fran@example.com")
    assert message["Subject"] == (
        "[Venice portal] Warning: The USD balance is $12.34, below $50.00"
    )
    text = smtp_server.body(message)
    assert "The USD balance is $12.34, below $50.00" in text
    assert "Balance: 12.34" in text and "Threshold: 50" in text
    event = rule.events.get()
    assert f"Details: http://127.0.0.1:8000/alerts/log/{event.pk}/" in text
    assert "Go to: http://127.0.0.1:8000/billing/" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="http://127.0.0.1:8000/alerts/log/{event.pk}/"' in html
    assert "<h1" in html and "$12.34" in html


def test_an_email_channel_sends_to_each_of_its_addresses(
    smtp_server, make_rule, make_channel, check_alerts, low_balance
):
    box, _ = make_channel("email", addresses="ops@example.com\nfinance@example.com", name="Box")
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[box])
    check_alerts()
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "finance@example.com",
        "ops@example.com",
    ]


def test_an_email_that_cannot_be_sent_is_retried_then_marked_failed(
    smtp_nowhere, make_rule, check_alerts, low_balance, alert_clock
):
    make_rule(AlertKind.BALANCE_BELOW)
    report = check_alerts()
    assert report.deliveries.retrying == 1
    delivery = AlertDelivery.objects.get()
    assert delivery.state == "retrying" and "ConnectionRefusedError" in delivery.last_error
    alert_clock.advance(timedelta(minutes=5))
    check_alerts()
    alert_clock.advance(timedelta(minutes=10))
    report = check_alerts()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, report.deliveries.failed) == ("failed", 3, 1)


def test_a_webhook_gets_the_stable_json_signed_over_its_body(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance
):
    channel, secret = make_channel("webhook", url=webhook_receiver.url, name="Receiver")
    webhook_receiver.secret = secret
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel], name="Low balance")
    check_alerts()
    check_alerts()
    (received,) = webhook_receiver.received
    assert received.signature_ok is True
    assert received.fresh
    assert received.headers["x-portal-signature"] == sign(secret, received.body)
    assert received.headers["content-type"] == "application/json"
    body = received.json
    event = rule.events.get()
    assert set(body) >= {"event", "rule", "severity", "subject", "facts", "url", "fired_at", "id"}
    assert body["event"] == "alert.fired"
    assert body["rule"] == {"id": rule.pk, "name": "Low balance", "kind": "balance_below"}
    assert body["severity"] == "warning"
    assert body["subject"] == "The USD balance is $12.34, below $50.00"
    assert body["facts"]["balance"] == "12.34" and body["facts"]["threshold"] == "50"
    assert body["url"] == f"http://127.0.0.1:8000/alerts/log/{event.pk}/"
    assert body["id"] == str(event.public_id)
    assert body["fired_at"].endswith("Z") and body["sent_at"].endswith("Z")
    assert received.headers["x-portal-timestamp"].isdigit()


def test_a_tampered_body_fails_the_signature_check(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance
):
    channel, secret = make_channel("webhook", url=webhook_receiver.url)
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    check_alerts()
    (received,) = webhook_receiver.received
    header = received.headers["x-portal-signature"]
    assert verify_signature(secret, received.body, header)
    tampered = json.loads(received.body)
    tampered["facts"]["balance"] = "9999.00"
    forged = json.dumps(tampered, separators=(",", ":")).encode()
    assert not verify_signature(secret, forged, header)
    assert not verify_signature(secret, received.body + b" ", header)
    assert not verify_signature("whsec_another", received.body, header)


def test_a_webhook_answering_500_is_retried_three_times_over_fifteen_minutes(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance, alert_clock
):
    channel, secret = make_channel("webhook", url=webhook_receiver.url)
    webhook_receiver.secret = secret
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    webhook_receiver.answer(500, 500, 500)
    started = alert_clock.now()
    check_alerts()
    alert_clock.advance(timedelta(minutes=4))
    check_alerts()  # not due yet
    assert len(webhook_receiver.received) == 1
    alert_clock.advance(timedelta(minutes=1))
    check_alerts()
    alert_clock.advance(timedelta(minutes=10))
    check_alerts()
    alert_clock.advance(timedelta(minutes=30))
    check_alerts()  # failed for good: not tried again
    assert [r.answered for r in webhook_receiver.received] == [500, 500, 500]
    delivery = AlertDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("failed", 3, "answered 500")
    tries = list(delivery.tries.values_list("at", "status_code", "ok"))
    assert [(at - started, status, ok) for at, status, ok in tries] == [
        (timedelta(0), 500, False),
        (timedelta(minutes=5), 500, False),
        (timedelta(minutes=15), 500, False),
    ]
    # Each try is signed afresh (its own sent_at), and each verifies.
    assert all(r.signature_ok for r in webhook_receiver.received)
    assert len({r.json["sent_at"] for r in webhook_receiver.received}) == 3


def test_a_webhook_that_recovers_is_sent_on_its_retry(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance, alert_clock
):
    channel, _ = make_channel("webhook", url=webhook_receiver.url)
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    webhook_receiver.answer(503)
    check_alerts()
    alert_clock.advance(timedelta(minutes=5))
    report = check_alerts()
    assert report.deliveries.sent == 1
    delivery = AlertDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    ids = {r.json["id"] for r in webhook_receiver.received}
    assert len(ids) == 1  # the same firing: a receiver can tell a retry from a new one


def test_a_webhook_that_hangs_times_out_and_is_retried(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance, alert_clock
):
    channel, _ = make_channel("webhook", url=webhook_receiver.url)
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    webhook_receiver.answer("hang")
    report = check_alerts()
    assert report.deliveries.retrying == 1
    attempt = AlertAttempt.objects.get()
    assert attempt.error == "no answer within 1 s" and attempt.status_code is None
    assert 900 <= attempt.duration_ms < 5000
    alert_clock.advance(timedelta(minutes=5))
    assert check_alerts().deliveries.sent == 1


def test_a_webhook_answering_410_switches_its_channel_off_with_a_notice(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance, ada, fran, alert_clock
):
    channel, _ = make_channel("slack", url=webhook_receiver.url, name="Old Slack")
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[fran], channels=[channel], email=False)
    make_rule(AlertKind.KEY_UNUSED, notify=[], channels=[channel], name="unused")
    webhook_receiver.answer(410)
    report = check_alerts()
    assert report.deliveries.disabled_channels == ["Old Slack"]
    channel.refresh_from_db()
    assert not channel.enabled and channel.disabled_reason == "the webhook is gone (410)"
    assert len(webhook_receiver.received) == 1  # nothing else sent to it
    assert set(AlertDelivery.objects.filter(channel=channel).values_list("state", flat=True)) == {
        "failed"
    }
    record = AuditEvent.objects.get(action="alert.channel_disabled")
    assert record.details["name"] == "Old Slack" and record.actor_username == ""
    assert "very-secret-path" not in json.dumps(record.details)
    notice = AlertNotification.objects.get(
        user=ada, event__kind=AlertSystemKind.CHANNEL_DISABLED
    ).event
    assert notice.title == "The Slack channel “Old Slack” was switched off"
    alert_clock.advance(timedelta(hours=1))
    rule.refresh_from_db()
    check_alerts()
    assert len(webhook_receiver.received) == 1  # never tried again


def test_slack_and_teams_get_their_own_shapes_unsigned(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance
):
    slack, slack_secret = make_channel("slack", url=webhook_receiver.url, name="Slack")
    teams, teams_secret = make_channel("teams", url=webhook_receiver.url, name="Teams")
    assert slack_secret == teams_secret == ""  # their URL is their credential
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[slack, teams])
    check_alerts()
    bodies = {tuple(sorted(r.json)): r for r in webhook_receiver.received}
    slack_body = bodies[("blocks", "text")].json
    assert slack_body["text"] == "Warning: The USD balance is $12.34, below $50.00"
    assert slack_body["blocks"][0]["type"] == "section"
    assert "Open in the portal>" in json.dumps(slack_body["blocks"][-1])
    teams_body = bodies[("attachments", "type")].json
    card = teams_body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["type"] == "Action.OpenUrl"
    assert all("x-portal-signature" not in r.headers for r in webhook_receiver.received)


def test_send_test_tries_once_and_a_410_switches_the_channel_off_too(
    webhook_receiver, make_channel, ada
):
    from accounts.services.alerts import alert_channel_test
    from tests.fixtures.alerts import context_of

    channel, _ = make_channel("teams", url=webhook_receiver.url, name="Teams")
    webhook_receiver.answer(410)
    outcome = alert_channel_test(context=context_of(ada), channel=channel)
    assert not outcome.ok and outcome.error == "the webhook is gone (410)"
    assert not AlertChannel.objects.get(pk=channel.pk).enabled
    assert AlertDelivery.objects.get(event=outcome.event).attempts == 1


def test_the_receiver_code_in_docs_alerts_md_accepts_a_real_delivery_and_refuses_a_forged_one(
    webhook_receiver, make_rule, make_channel, check_alerts, low_balance
):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace = {}
    exec(compile(code, "docs/alerts.md", "exec"), namespace)  # noqa: S102 - our own document
    channel, secret = make_channel("webhook", url=webhook_receiver.url)
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    check_alerts()
    (received,) = webhook_receiver.received
    headers = received.headers
    body = namespace["verify"](
        secret, received.body, headers["x-portal-signature"], headers["x-portal-timestamp"]
    )
    assert body["subject"] == "The USD balance is $12.34, below $50.00"
    with pytest.raises(ValueError, match="bad signature"):
        namespace["verify"](
            secret, received.body.replace(b"12.34", b"99.99"), headers["x-portal-signature"],
            headers["x-portal-timestamp"],
        )  # fmt: skip
    with pytest.raises(ValueError, match="stale"):
        namespace["verify"](secret, received.body, headers["x-portal-signature"], "1000000000")


def test_a_member_deactivated_or_left_without_a_role_is_told_nothing_more(
    make_rule, check_alerts, low_balance, fran, kim, smtp_server
):
    from accounts.services.members import role_change_recorded_here

    make_rule(AlertKind.BALANCE_BELOW, notify=[fran, kim], by=fran)
    fran.is_active = False
    fran.save()
    with role_change_recorded_here():
        kim.groups.clear()
    check_alerts()
    assert not smtp_server.messages
    assert not AlertNotification.objects.exists()


def test_a_test_message_being_sent_is_not_sent_again_by_a_check_alerts_run(
    webhook_receiver, make_channel, ada, check_alerts, alert_clock
):
    from accounts.services.alerts.channels import channel_test_record
    from tests.fixtures.alerts import context_of

    channel, _ = make_channel("webhook", url=webhook_receiver.url)
    # The Send test button recorded its message and is about to send it, when cron comes by.
    event = channel_test_record(context=context_of(ada), channel=channel, now=alert_clock.now())
    assert check_alerts().deliveries.sent == 0
    assert not webhook_receiver.received
    assert event.deliveries.get().state == "pending"
