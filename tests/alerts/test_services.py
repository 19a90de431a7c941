"""The rule and channel services: the second lock on roles, and an audit record on the chain
for every change, in the same transaction, naming no webhook URL or secret."""

import json

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AlertChannel, AlertKind, AlertRule, AuditEvent
from accounts.selectors.audit import audit_chain_verify
from accounts.services.alerts import (
    AlertChannelError,
    alert_channel_create,
    alert_channel_delete,
    alert_rule_create,
    alert_rule_update,
    alert_rules_starter,
)
from accounts.services.alerts.kinds import KINDS
from tests.fixtures.alerts import context_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("who", "kind", "allowed"),
    [
        ("fran", AlertKind.BALANCE_BELOW, True),
        ("fran", AlertKind.KEY_LIMIT, True),  # a key's limit is its budget
        ("fran", AlertKind.KEY_EXPIRING, False),
        ("kim", AlertKind.KEY_LIMIT, True),
        ("kim", AlertKind.SPEND_ABOVE, False),
        ("kim", AlertKind.AUDIT_INTEGRITY, False),
        ("ada", AlertKind.AUDIT_INTEGRITY, True),
        ("aud", AlertKind.RATE_LIMITS, False),
    ],
)
def test_the_service_checks_the_role_again(request, who, kind, allowed, auditor):
    user = auditor if who == "aud" else request.getfixturevalue(who)
    make = lambda: alert_rule_create(  # noqa: E731
        context=context_of(user), kind=kind, name="r", params=KINDS[kind].defaults
    )
    if allowed:
        make()
    else:
        with pytest.raises(PermissionDenied):
            make()
        assert not AlertRule.objects.exists()
        assert not AuditEvent.objects.exists()


def test_a_rules_records_name_its_members_and_channels_never_a_url(ada, fran, make_channel):
    channel, secret = make_channel(
        "webhook", url="https://hooks.example.com/T/B/secret-path", name="Ops"
    )
    rule = alert_rule_create(
        context=context_of(ada),
        kind=AlertKind.RATE_LIMITS,
        name="Limits",
        params={"count": 10},
        notify_users=[ada],
        channels=[channel],
    )
    alert_rule_update(
        context=context_of(ada),
        rule=rule,
        name="Limits",
        params={"count": 20},
        notify_users=[ada, fran],
        email_users=False,
        channels=[],
        enabled=True,
    )
    changed = AuditEvent.objects.get(action="alert.rule_changed")
    assert changed.changes == {
        "params": [{"count": 10}, {"count": 20}],
        "notify": [["ada"], ["ada", "fran"]],
        "email_users": [True, False],
        "channels": [["Ops"], []],
    }
    created = AuditEvent.objects.get(action="alert.channel_created")
    assert created.details == {
        "channel": channel.pk,
        "name": "Ops",
        "kind": "webhook",
        "where": "hooks.example.com",
    }
    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "secret-path" not in everything and secret not in everything
    assert audit_chain_verify().intact


def test_a_change_that_fails_leaves_no_record(ada, database_fails):
    from django.db import OperationalError

    with database_fails(lambda sql, params: "accounts_alertrule_notify_users" in sql):
        with pytest.raises(OperationalError):
            alert_rule_create(
                context=context_of(ada),
                kind=AlertKind.RATE_LIMITS,
                name="r",
                params={"count": 1},
                notify_users=[ada],
            )
    assert not AlertRule.objects.exists()
    assert not AuditEvent.objects.filter(action="alert.rule_created").exists()


def test_the_starter_set_is_what_the_role_manages(kim):
    made = alert_rules_starter(context=context_of(kim), notify=[kim])
    assert {rule.kind for rule in made} == {
        AlertKind.KEY_LIMIT,
        AlertKind.KEY_EXPIRING,
        AlertKind.KEY_UNUSED,
        AlertKind.ROTATION_GRACE,
        AlertKind.ROTATION_FAILED,
        AlertKind.RATE_LIMITS,
    }
    assert alert_rules_starter(context=context_of(kim), notify=[kim]) == []  # not twice


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        ("slack", "", "Give the webhook's URL."),
        ("slack", "ftp://hooks.example.com/x", "must start with https://"),
        ("webhook", "https://user:pw@hooks.example.com/x", "not a URL the portal can send to"),
        ("email", "", "Give at least one email address"),
    ],
)
def test_a_channel_without_a_usable_address_is_refused(ada, kind, url, message):
    with pytest.raises(AlertChannelError, match=message):
        alert_channel_create(context=context_of(ada), kind=kind, name="x", url=url)
    assert not AlertChannel.objects.exists()


def test_two_channels_may_not_share_a_name(ada):
    alert_channel_create(context=context_of(ada), kind="email", name="Ops", addresses="a@b.co")
    with pytest.raises(AlertChannelError, match="A channel of that name exists"):
        alert_channel_create(context=context_of(ada), kind="email", name="Ops", addresses="c@d.co")
    assert AuditEvent.objects.filter(action="alert.channel_created").count() == 1


def test_only_its_creator_or_an_administrator_deletes_a_channel(ada, fran, kim):
    channel = alert_channel_create(
        context=context_of(fran), kind="email", name="Fin", addresses="f@example.com"
    ).channel
    with pytest.raises(PermissionDenied):
        alert_channel_delete(context=context_of(kim), channel=channel)
    alert_channel_delete(context=context_of(ada), channel=channel)
    assert AuditEvent.objects.get(action="alert.channel_deleted").actor_username == "ada"
