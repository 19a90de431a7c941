"""What a firing looks like on the way out: the email (plain text with an HTML part), the
generic webhook's JSON (a stable schema, docs/alerts.md), and Slack's and Teams' shapes.

Links are absolute, from PORTAL_BASE_URL (cron has no request to take a host from).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import AlertDelivery, AlertEvent, AlertSystemKind
from accounts.services.alerts.kinds import describe

SCHEMA_VERSION = 1
SEVERITY_WORDS = {"info": "Info", "warning": "Warning", "critical": "Critical"}
FACT_LABELS = {
    "balance": "Balance",
    "threshold": "Threshold",
    "currency": "Currency",
    "can_consume": "Venice lets the account consume",
    "spent": "Spent",
    "period": "Period",
    "period_label": "Period",
    "key_id": "Key id",
    "key_description": "Key",
    "key_last6": "Key ends in",
    "key_type": "Key type",
    "used": "Used this period",
    "limit": "Limit",
    "percent": "Share of the limit (%)",
    "limit_period": "Limit period",
    "expires_at": "Expires",
    "last_used_at": "Last used",
    "created_at": "Created",
    "idle_days": "Days unused",
    "retire_at": "Grace ends",
    "old_key_last_used_at": "Old key last used",
    "violations": "Violations in 24 h",
    "last_at": "Last violation",
    "last_model": "Last violation's model",
    "error": "Error",
    "step": "Step",
}


def absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path if path else ""


def event_url(event: AlertEvent) -> str:
    return absolute(reverse("alerts:event", args=[event.pk]))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fact_rows(event: AlertEvent) -> list[tuple[str, str]]:
    """The facts a person reads: labelled, scalar ones only (lists stay in the JSON)."""
    rows = []
    for name, value in (event.facts or {}).items():
        if value in (None, "") or isinstance(value, list | dict):
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, str) and "T" in value and value[:4].isdigit():
            value = _readable_time(value)
        rows.append((FACT_LABELS.get(name, name.replace("_", " ").capitalize()), str(value)))
    return rows


def _readable_time(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def rule_sentence(event: AlertEvent) -> str:
    if event.rule is not None:
        return describe(event.rule.kind, event.rule.params)
    return ""


# --- email --------------------------------------------------------------------------------


def email_message(event: AlertEvent) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the email a firing sends."""
    severity = SEVERITY_WORDS.get(event.severity, event.severity)
    prefix = settings.ACCOUNT_EMAIL_SUBJECT_PREFIX
    subject = f"{prefix}{severity}: {event.title}"[:250]
    context = {
        "event": event,
        "severity": severity,
        "facts": fact_rows(event),
        "rule_sentence": rule_sentence(event),
        "event_url": event_url(event),
        "page_url": absolute(event.link),
        "rules_url": absolute(reverse("alerts:rules")),
    }
    text = render_to_string("alerts/email.txt", context)
    html = render_to_string("alerts/email.html", context)
    return subject, text, html


# --- webhooks -------------------------------------------------------------------------------


def generic_payload(event: AlertEvent, delivery: AlertDelivery, sent_at: datetime) -> dict:
    """The generic webhook's body. Stable: fields are added, never renamed or removed."""
    rule = event.rule
    return {
        "schema": SCHEMA_VERSION,
        "event": "alert.test" if event.kind == AlertSystemKind.TEST else "alert.fired",
        "id": str(event.public_id),
        "rule": (
            {"id": rule.pk, "name": rule.name, "kind": rule.kind}
            if rule is not None
            else {"id": None, "name": event.rule_name, "kind": event.kind}
        ),
        "severity": event.severity,
        "subject": event.title,
        "facts": event.facts or {},
        "url": event_url(event),
        "fired_at": utc_text(event.fired_at),
        "sent_at": utc_text(sent_at),
        "delivery": {"id": delivery.pk, "attempt": delivery.attempts + 1},
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: AlertEvent) -> dict:
    """An incoming webhook's message: a text fallback and Block Kit blocks."""
    severity = SEVERITY_WORDS.get(event.severity, event.severity)
    title = _slack_escape(event.title)
    blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{severity}: {title}*\n{_slack_escape(event.body)}",
            },
        }
    ]
    facts = fact_rows(event)[:10]  # Slack takes at most ten fields per section
    if facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_slack_escape(label)}*\n{_slack_escape(value)}"}
                    for label, value in facts
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{_slack_escape(event.rule_name or event.kind_label)} · "
                    f"<{event_url(event)}|Open in the portal>",
                }
            ],
        }
    )
    return {"text": f"{severity}: {event.title}", "blocks": blocks}


def teams_payload(event: AlertEvent) -> dict:
    """A Teams Workflows (or connector) webhook's message: one Adaptive Card."""
    severity = SEVERITY_WORDS.get(event.severity, event.severity)
    colour = {"critical": "Attention", "warning": "Warning"}.get(event.severity, "Default")
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": f"{severity}: {event.title}",
                "weight": "Bolder",
                "size": "Medium",
                "color": colour,
                "wrap": True,
            },
            {"type": "TextBlock", "text": event.body, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in fact_rows(event)],
            },
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open in the portal", "url": event_url(event)}
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def encode(payload: dict) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()
