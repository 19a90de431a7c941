"""Audit sentences for alert rules and the channels they notify (accounts/services/alerts/).
accounts/presentation/audit.py joins these to the other actions' wording in one WORDING.

A record names a rule or a channel by the name it had then; a channel by its host, never its
URL (whose path is the webhook's credential)."""

from __future__ import annotations

from accounts.models import AlertChannel, AlertKind, AuditAction, AuditEvent
from accounts.presentation.audit_words import Wording

# A rule's settings as a sentence lists what changed: "its settings and who is told".
RULE_FIELDS = {
    "name": "its name",
    "params": "its settings",
    "notify": "who is told",
    "email_users": "whether they are emailed",
    "channels": "its channels",
}


def _details(event: AuditEvent) -> dict:
    return event.details or {}


def _kind(value) -> str:
    """ "(Balance below)": the rule's kind as the rules page names it."""
    label = AlertKind(value).label if value in AlertKind.values else value
    return f" ({label.lower()})" if label else ""


def _rule(event: AuditEvent) -> str:
    details = _details(event)
    return f"the alert rule “{details.get('name') or '?'}”" + _kind(details.get("kind"))


def _rule_changed(event: AuditEvent) -> str:
    """ "the alert rule “Low balance”: switched off", or "…: its settings and who is told"."""
    details = _details(event)
    rule = f"the alert rule “{details.get('name') or '?'}”"
    changes = event.changes or {}
    what = [RULE_FIELDS[field] for field in RULE_FIELDS if field in changes]
    if "enabled" in changes:
        enabled = changes["enabled"][-1]
        what.append("switched on" if enabled else "switched off")
    if not what:
        return rule
    listed = what[0] if len(what) == 1 else ", ".join(what[:-1]) + " and " + what[-1]
    return f"{rule}: {listed}"


def _channel(event: AuditEvent) -> str:
    """ "the Slack channel “Ops” (hooks.slack.com)"; with the reason it was switched off."""
    details = _details(event)
    kind = details.get("kind")
    label = AlertChannel.Kind(kind).label if kind in AlertChannel.Kind.values else "alert"
    if kind == AlertChannel.Kind.WEBHOOK:
        label = label.lower()
    text = f"the {label} channel “{details.get('name') or '?'}”"
    if details.get("where"):
        text += f" ({details['where']})"
    if event.action == AuditAction.ALERT_CHANNEL_DISABLED and details.get("reason"):
        text += f": {details['reason']}"
    return text


ALERT_WORDING: dict[str, Wording] = {
    AuditAction.ALERT_RULE_CREATED: Wording("Alert rule created", "created", "create", _rule),
    AuditAction.ALERT_RULE_CHANGED: Wording(
        "Alert rule changed", "changed", "change", _rule_changed
    ),
    AuditAction.ALERT_RULE_DELETED: Wording("Alert rule deleted", "deleted", "delete", _rule),
    AuditAction.ALERT_CHANNEL_CREATED: Wording("Alert channel added", "added", "add", _channel),
    AuditAction.ALERT_CHANNEL_DELETED: Wording(
        "Alert channel deleted", "deleted", "delete", _channel
    ),
    AuditAction.ALERT_CHANNEL_DISABLED: Wording(
        "Alert channel switched off", "switched off", "switch off", _channel
    ),
}
