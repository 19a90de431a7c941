"""manage.py check_alerts (cron's), seed_demo's starter rules, and reencrypt_secrets."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command

from accounts.models import AlertKind, AlertRule, AuditEvent
from accounts.services.alerts import STARTER_RULES

pytestmark = pytest.mark.django_db


def test_check_alerts_says_what_fired_and_sums_up(make_rule, check_alerts_command, sandbox):
    sandbox.usd_balance = 7.5
    make_rule(AlertKind.BALANCE_BELOW)
    out, error = check_alerts_command()
    assert "Fired: [warning] The USD balance is $7.50, below $50.00" in out
    assert "1 rule(s) checked, 1 fired; 1 sent, 0 to retry, 0 failed." in out
    assert error == ""
    out, error = check_alerts_command()
    assert "1 rule(s) checked, 0 fired; 0 sent" in out and error == ""


def test_check_alerts_exits_non_zero_when_venice_cannot_be_read(
    make_rule, check_alerts_command, sandbox
):
    make_rule(AlertKind.BALANCE_BELOW)
    sandbox.faults.inject("/billing/balance", "GET", status=503)
    out, error = check_alerts_command()
    assert "1 not checked (Venice could not be read)" in out
    assert error.startswith("Venice could not be read: Venice failed to answer (503).")


def test_check_alerts_exits_non_zero_when_a_delivery_failed_for_good(
    make_rule, make_channel, check_alerts_command, sandbox, webhook_receiver
):
    channel, _ = make_channel("slack", url=webhook_receiver.url)
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    sandbox.usd_balance = 1.0
    webhook_receiver.answer(410)
    out, error = check_alerts_command()
    assert "Switched off channel slack channel: its webhook is gone (410)." in out
    assert "1 delivery(ies) failed for good; see /alerts/log/." in error


def test_seed_demo_adds_the_starter_rules_once_emailing_the_demo_administrator(
    smtp_server, check_alerts_command, alert_clock
):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert f"{len(STARTER_RULES)} starter alert rules tell admin (admin@example.com)" in (
        out.getvalue()
    )
    call_command("seed_demo", stdout=StringIO())
    assert AlertRule.objects.count() == len(STARTER_RULES)
    assert all(
        [user.username for user in rule.notify_users.all()] == ["admin"]
        for rule in AlertRule.objects.all()
    )
    assert AuditEvent.objects.filter(
        action="alert.rule_created", user_agent="manage.py seed_demo"
    ).count() == len(STARTER_RULES)

    # Right after the setup, check_alerts reports the demo account's expiring keys.
    out, _ = check_alerts_command()
    subjects = [message["Subject"] for message in smtp_server.messages]
    expiring = [subject for subject in subjects if " expires in " in subject]
    assert len(expiring) == 4
    assert any("“Contractor - Acme Analytics”" in subject for subject in expiring)
    assert {message["To"] for message in smtp_server.messages} == {"admin@example.com"}


def test_reencrypt_secrets_moves_webhook_secrets_to_the_new_key(
    settings, make_channel, webhook_receiver
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_ENCRYPTION_KEY = old
    channel, secret = make_channel("webhook", url=webhook_receiver.url)
    settings.PORTAL_ENCRYPTION_KEY = f"{new},{old}"  # the new key first, the old one kept
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "2 secret(s) rewritten with the first key." in out.getvalue()
    settings.PORTAL_ENCRYPTION_KEY = new  # the old key dropped
    channel.refresh_from_db()
    assert (channel.url(), channel.signing_secret()) == (webhook_receiver.url, secret)
    settings.PORTAL_ENCRYPTION_KEY = old
    with pytest.raises(InvalidToken):
        channel.url()
