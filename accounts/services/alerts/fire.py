"""Recording a firing: the event, a delivery per email address and per webhook channel, and a
notification (the bell) per member told. Called inside the transaction that decided to fire,
so the event and everything it owes are committed together or not at all; sending happens
afterwards (deliver.py), from the delivery records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from accounts.models import (
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    AlertNotification,
    AlertRule,
    ChannelKind,
    DeliveryState,
)
from accounts.roles import Ability


def rule_recipients(rule: AlertRule) -> tuple[list, list, list[AlertChannel]]:
    """(members told in the portal, members told by email, channels still switched on). A
    member deactivated, or left without a role, is told nothing more."""
    users = [
        user
        for user in rule.notify_users.all()
        if user.is_active and user.has_perm(Ability.VIEW_ALERTS.permission)
    ]
    emailed = users if rule.email_users else []
    channels = [channel for channel in rule.channels.all() if channel.enabled]
    return users, emailed, channels


def event_record(
    *,
    rule: AlertRule | None,
    kind: str,
    subject_key: str,
    dedupe_key: str,
    severity: str,
    title: str,
    body: str,
    facts: dict,
    link: str,
    now: datetime,
    users: Iterable,
    email_users: Iterable,
    channels: Iterable[AlertChannel],
) -> AlertEvent:
    event = AlertEvent.objects.create(
        rule=rule,
        rule_name=rule.name if rule is not None else "",
        kind=kind,
        subject_key=subject_key[:200],
        dedupe_key=dedupe_key[:260],
        severity=severity,
        title=title[:300],
        body=body,
        facts=facts,
        link=link,
        fired_at=now,
    )
    AlertNotification.objects.bulk_create(
        [
            AlertNotification(user=user, event=event, created_at=now)
            for user in {user.pk: user for user in users}.values()
        ]
    )
    deliveries: dict[tuple[str, str], AlertDelivery] = {}

    def owe(kind: str, recipient: str, channel: AlertChannel | None = None) -> None:
        key = (kind, recipient.lower())
        if recipient and key not in deliveries:
            deliveries[key] = AlertDelivery(
                event=event,
                channel=channel,
                channel_kind=kind,
                recipient=recipient[:254],
                state=DeliveryState.PENDING,
                next_attempt_at=now,
                created_at=now,
            )

    for user in email_users:
        owe(ChannelKind.EMAIL, user.email or "")
    for channel in channels:
        if channel.kind == ChannelKind.EMAIL:
            for address in channel.addresses:
                owe(ChannelKind.EMAIL, address, channel)
        else:
            owe(channel.kind, channel.name, channel)
    AlertDelivery.objects.bulk_create(deliveries.values())
    return event
