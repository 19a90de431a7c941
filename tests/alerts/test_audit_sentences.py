"""accounts/presentation/audit_alerts.py: every record the alert services write reads as a
sentence an auditor understands, naming the rule or channel, never a webhook's URL or secret.

Each record is written by the service that writes it in production; the channel switched off
is switched off by a real webhook receiver answering 410 to a real check_alerts run."""

from urllib.parse import urlsplit

import pytest

from accounts.models import AlertKind, AuditAction, AuditEvent
from accounts.presentation.audit import audit_sentence
from accounts.selectors.audit import audit_chain_verify
from accounts.services.alerts import (
    alert_channel_delete,
    alert_rule_delete,
    alert_rule_set_enabled,
    alert_rule_update,
)
from tests.fixtures.alerts import context_of

pytestmark = pytest.mark.django_db

# Written by `every_alert_action`; tests/test_presentation_audit_access.py checks that this
# set, the access actions and the key actions together are every AuditAction.
ALERT_ACTIONS = {
    AuditAction.ALERT_RULE_CREATED,
    AuditAction.ALERT_RULE_CHANGED,
    AuditAction.ALERT_RULE_DELETED,
    AuditAction.ALERT_CHANNEL_CREATED,
    AuditAction.ALERT_CHANNEL_DELETED,
    AuditAction.ALERT_CHANNEL_DISABLED,
}


@pytest.fixture
def every_alert_action(ada, fran, make_rule, make_channel, check_alerts, webhook_receiver, sandbox):
    """ada's rules and channels, changed every way; returns the webhook's URL and secret."""
    slack, _ = make_channel("slack", url=webhook_receiver.url, name="Ops Slack")
    hook, secret = make_channel("webhook", url=webhook_receiver.url, name="SIEM")
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[fran], channels=[slack], name="Low USD")
    alert_rule_update(
        context=context_of(ada),
        rule=rule,
        name="Low USD balance",
        params={**rule.params, "amount": "80"},
        notify_users=[fran, ada],
        email_users=rule.email_users,
        channels=[slack],
        enabled=True,
    )
    alert_rule_set_enabled(context=context_of(ada), rule=rule, enabled=False)
    alert_rule_set_enabled(context=context_of(ada), rule=rule, enabled=True)
    sandbox.usd_balance = 12.34
    webhook_receiver.answer(410)
    check_alerts()  # the Slack webhook is gone: its channel is switched off
    alert_rule_delete(context=context_of(ada), rule=rule)
    alert_channel_delete(context=context_of(ada), channel=hook)
    return {"url": webhook_receiver.url, "secret": secret}


def _sentences(action) -> list[str]:
    return [audit_sentence(e) for e in AuditEvent.objects.filter(action=action).order_by("id")]


def test_every_alert_record_reads_as_a_sentence_without_a_secret(every_alert_action):
    written = set(AuditEvent.objects.values_list("action", flat=True))
    assert ALERT_ACTIONS - written == set()
    for event in AuditEvent.objects.filter(action__in=ALERT_ACTIONS):
        sentence = audit_sentence(event)
        assert event.action not in sentence and "None" not in sentence, sentence
        assert every_alert_action["url"] not in sentence
        assert every_alert_action["secret"] not in sentence
    assert audit_chain_verify().intact


def test_the_sentences_name_the_rule_the_channel_and_what_changed(every_alert_action):
    host = urlsplit(every_alert_action["url"]).netloc  # its host, never the path
    assert _sentences(AuditAction.ALERT_CHANNEL_CREATED) == [
        f"ada added the Slack channel “Ops Slack” ({host})",
        f"ada added the webhook channel “SIEM” ({host})",
    ]
    assert _sentences(AuditAction.ALERT_RULE_CREATED) == [
        "ada created the alert rule “Low USD” (balance below)"
    ]
    assert _sentences(AuditAction.ALERT_RULE_CHANGED) == [
        "ada changed the alert rule “Low USD balance”: its name, its settings and who is told",
        "ada changed the alert rule “Low USD balance”: switched off",
        "ada changed the alert rule “Low USD balance”: switched on",
    ]
    assert _sentences(AuditAction.ALERT_CHANNEL_DISABLED) == [
        f"The portal (check_alerts) switched off the Slack channel “Ops Slack” ({host}): "
        "the webhook is gone (410)"
    ]
    assert _sentences(AuditAction.ALERT_RULE_DELETED) == [
        "ada deleted the alert rule “Low USD balance” (balance below)"
    ]
    assert _sentences(AuditAction.ALERT_CHANNEL_DELETED) == [
        f"ada deleted the webhook channel “SIEM” ({host})"
    ]
