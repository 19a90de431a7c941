"""Alert rules: create, change, switch on or off, delete, and the starter set. Each change is an
audit record on the chain, written in the same transaction as the change.

Each function checks that the actor may manage the rule's kind (the second lock; views check
first): Administrators every kind, Key managers the key kinds, Finance the balance and spend
kinds (kinds.py). `context.user` None is an operator's command (seed_demo), which may do all.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import AlertChannel, AlertKind, AlertRule, AuditAction
from accounts.services.alerts.kinds import KINDS, describe, may_manage_kind
from accounts.services.audit import AuditContext, audit_log

RULES_REFUSED = "Your role may not manage alert rules of this kind."
UNKNOWN_KIND = "Unknown kind of alert rule."


class AlertRuleError(Exception):
    """A rule the rules refuse; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _check_may_manage(context: AuditContext, kind: str) -> None:
    if kind not in KINDS:
        raise AlertRuleError(UNKNOWN_KIND)
    if context.user is not None and not may_manage_kind(context.user, kind):
        raise PermissionDenied(RULES_REFUSED)


def _snapshot(rule: AlertRule) -> dict:
    """What an audit record keeps of a rule: never a channel's URL or secret, only names."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "params": rule.params,
        "enabled": rule.enabled,
        "notify": sorted(user.get_username() for user in rule.notify_users.all()),
        "email_users": rule.email_users,
        "channels": sorted(channel.name for channel in rule.channels.all()),
    }


def _details(rule: AlertRule) -> dict:
    return {"rule": rule.pk, "name": rule.name, "kind": rule.kind}


def alert_rule_create(
    *,
    context: AuditContext,
    kind: str,
    name: str,
    params: dict,
    notify_users=(),
    email_users: bool = True,
    channels=(),
    enabled: bool = True,
) -> AlertRule:
    _check_may_manage(context, kind)
    with transaction.atomic():
        rule = AlertRule.objects.create(
            name=name.strip() or describe(kind, params)[:120],
            kind=kind,
            params=params,
            enabled=enabled,
            email_users=email_users,
            created_by=context.user,
            created_by_username=context.username,
        )
        rule.notify_users.set(notify_users)
        rule.channels.set(channels)
        audit_log(
            context,
            action=AuditAction.ALERT_RULE_CREATED,
            details={**_details(rule), "rule_settings": _snapshot(rule)},
        )
    return rule


def alert_rule_update(
    *,
    context: AuditContext,
    rule: AlertRule,
    name: str,
    params: dict,
    notify_users,
    email_users: bool,
    channels,
    enabled: bool,
) -> bool:
    """Change a rule (its kind stays). Returns whether anything changed."""
    _check_may_manage(context, rule.kind)
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
        before = _snapshot(rule)
        rule.name = name.strip() or rule.name
        rule.params = params
        rule.email_users = email_users
        rule.enabled = enabled
        rule.save()
        rule.notify_users.set(notify_users)
        rule.channels.set(channels)
        after = _snapshot(rule)
        changes = {
            field: [before[field], after[field]] for field in after if before[field] != after[field]
        }
        if not changes:
            return False
        if "enabled" in changes:
            _restart(rule)
        audit_log(
            context, action=AuditAction.ALERT_RULE_CHANGED, changes=changes, details=_details(rule)
        )
    return True


def alert_rule_set_enabled(*, context: AuditContext, rule: AlertRule, enabled: bool) -> bool:
    """Switch a rule on or off. A rule switched on starts afresh: what is true then is told."""
    _check_may_manage(context, rule.kind)
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
        if rule.enabled == enabled:
            return False
        rule.enabled = enabled
        rule.save(update_fields=["enabled", "updated_at"])
        _restart(rule)
        audit_log(
            context,
            action=AuditAction.ALERT_RULE_CHANGED,
            changes={"enabled": [not enabled, enabled]},
            details=_details(rule),
        )
    return True


def _restart(rule: AlertRule) -> None:
    # Forget the episodes: a rule switched off and on again tells what is true when it is on,
    # rather than staying silent about a condition it told before it was switched off.
    rule.states.all().delete()


def alert_rule_delete(*, context: AuditContext, rule: AlertRule) -> None:
    """Delete a rule; its firings stay in the log under its name."""
    _check_may_manage(context, rule.kind)
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
        audit_log(
            context,
            action=AuditAction.ALERT_RULE_DELETED,
            details={**_details(rule), "rule_settings": _snapshot(rule)},
        )
        rule.delete()


# --- the starter set ------------------------------------------------------------------------

STARTER_RULES: tuple[tuple[str, str, dict], ...] = (
    ("USD balance below $50", AlertKind.BALANCE_BELOW, {"currency": "USD", "amount": "50"}),
    (
        "DIEM left this epoch below 1",
        AlertKind.BALANCE_BELOW,
        {"currency": "DIEM", "amount": "1"},
    ),
    (
        "Account spend above $250 a month",
        AlertKind.SPEND_ABOVE,
        {"period": "month", "usd": "250", "diem": "", "key_id": "", "key_label": ""},
    ),
    (
        "Keys at 80, 90 and 100 % of their limit",
        AlertKind.KEY_LIMIT,
        {"thresholds": [80, 90, 100], "scope": "all", "key_type": "", "key_id": ""},
    ),
    (
        "Keys expiring within 14 days",
        AlertKind.KEY_EXPIRING,
        {"days": 14, "scope": "all", "key_type": "", "key_id": ""},
    ),
    (
        "Keys unused for 60 days",
        AlertKind.KEY_UNUSED,
        {"days": 60, "scope": "all", "key_type": "", "key_id": ""},
    ),
    (
        "Old key still in use as its grace period ends",
        AlertKind.ROTATION_GRACE,
        {"hours": 24, "minutes": 60},
    ),
    ("Rotations failed or left unfinished", AlertKind.ROTATION_FAILED, {"minutes": 30}),
    ("More than 10 rate-limit violations a day", AlertKind.RATE_LIMITS, {"count": 10}),
    (
        "Audit chain broken, or keys changed outside the portal",
        AlertKind.AUDIT_INTEGRITY,
        {"chain": True, "drift": True},
    ),
    (
        "Teams at 80 and 100 % of their monthly budget",
        AlertKind.TEAM_BUDGET,
        {"thresholds": [80, 100], "team_id": None, "team_label": ""},
    ),
)


def alert_rules_starter(
    *, context: AuditContext, notify, channels: list[AlertChannel] | tuple = ()
) -> list[AlertRule]:
    """The starter rules the actor may manage (all of them for an operator's command), telling
    `notify` (members) by email and in the portal. Rules of the same name are not made
    twice."""
    existing = set(AlertRule.objects.values_list("name", flat=True))
    made = []
    for name, kind, params in STARTER_RULES:
        if name in existing:
            continue
        if context.user is not None and not may_manage_kind(context.user, kind):
            continue
        made.append(
            alert_rule_create(
                context=context,
                kind=kind,
                name=name,
                params=params,
                notify_users=notify,
                email_users=True,
                channels=channels,
            )
        )
    return made
