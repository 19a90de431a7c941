"""Reading alerts: the rules a member may see, the notification log, one firing, the bell.

What a member sees follows what they may read elsewhere (kinds.py): a Key manager does not see
balance rules or their firings, since the balance is not theirs to see; Auditors see all. A
firing sent to a member is theirs to see whatever its kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q

from accounts.models import (
    AlertAttempt,
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    AlertNotification,
    AlertRule,
)
from accounts.services.alerts.kinds import readable_kinds

LOG_PAGE_SIZE = 50
BELL_SHOWN = 50


def _rules_visible(user):
    return AlertRule.objects.filter(kind__in=readable_kinds(user)).prefetch_related(
        "notify_users", "channels"
    )


def alert_rules_visible(user) -> list[AlertRule]:
    return list(_rules_visible(user).order_by("kind", "name", "pk"))


def alert_rule_visible(user, rule_id: int) -> AlertRule | None:
    """One rule with its members and channels, if `user` may read its kind."""
    return _rules_visible(user).filter(pk=rule_id).first()


def alert_rule_count() -> int:
    return AlertRule.objects.count()


def alert_channels() -> list[AlertChannel]:
    return list(AlertChannel.objects.annotate(rule_count=Count("rules")).order_by("name", "pk"))


def _visible_events(user):
    return AlertEvent.objects.filter(
        Q(kind__in=readable_kinds(user)) | Q(notifications__user=user)
    ).distinct()


def _with_deliveries(events):
    return events.select_related("rule").prefetch_related(
        Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("pk")),
        Prefetch(
            "notifications",
            queryset=AlertNotification.objects.select_related("user").order_by("pk"),
        ),
    )


@dataclass(frozen=True)
class LogPage:
    events: list[AlertEvent]
    next_before: int | None  # the id to continue from ("older than"), None at the end


def alert_log_page(user, *, before: int | None = None, size: int = LOG_PAGE_SIZE) -> LogPage:
    """Firings newest first, `size` at a time (keyset: ids below `before`)."""
    events = _visible_events(user)
    if before is not None:
        events = events.filter(pk__lt=before)
    found = list(_with_deliveries(events.order_by("-pk"))[: size + 1])
    more = len(found) > size
    found = found[:size]
    return LogPage(events=found, next_before=found[-1].pk if more and found else None)


def alert_event_for(user, event_id: int) -> AlertEvent | None:
    """One firing with its deliveries and their tries, if `user` may see it."""
    return (
        _with_deliveries(_visible_events(user).filter(pk=event_id))
        .prefetch_related(
            Prefetch("deliveries__tries", queryset=AlertAttempt.objects.order_by("pk"))
        )
        .first()
    )


def alert_unread_count(user) -> int:
    return AlertNotification.objects.filter(user=user, read_at__isnull=True).count()


def alert_notifications_of(user, *, limit: int = BELL_SHOWN) -> list[AlertNotification]:
    return list(
        AlertNotification.objects.filter(user=user)
        .select_related("event")
        .order_by("-created_at", "-pk")[:limit]
    )
