"""What every evaluator shares: the Observation it yields, severities, and the words and
links of messages about keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from urllib.parse import quote

from django.urls import reverse

from accounts.models import AlertSeverity
from accounts.services.alerts.inputs import AlertInputs
from accounts.venice import APIKey

WARNING, CRITICAL, INFO = AlertSeverity.WARNING, AlertSeverity.CRITICAL, AlertSeverity.INFO


@dataclass(frozen=True)
class Observation:
    subject: str
    level: int
    period: str = ""
    severity: str = WARNING
    title: str = ""
    body: str = ""
    facts: dict = field(default_factory=dict)
    link: str = ""
    # What the state should remember for the next run (None: leave what it has).
    data: dict | None = None
    # Keep the state even while clear (level 0), because of what it remembers.
    keep: bool = False


def decimal_or_none(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def in_scope(key: APIKey, params: dict) -> bool:
    scope = params.get("scope") or "all"
    if scope == "key":
        return key.id == params.get("key_id")
    if scope == "type" and params.get("key_type"):
        return key.api_key_type == params["key_type"]
    return True


def scoped(params, inputs: AlertInputs) -> list[APIKey]:
    return [key for key in inputs.keys or () if in_scope(key, params)]


_KEY_ID_PLACEHOLDER = "key-id-placeholder"


@cache
def _key_url_pattern() -> str:
    return reverse("keys:detail", args=[_KEY_ID_PLACEHOLDER])


def key_url(key_id: str) -> str:
    """A key's page: one reverse() per process, not one per key (500 keys, several rules)."""
    return _key_url_pattern().replace(_KEY_ID_PLACEHOLDER, quote(key_id, safe=""))


def key_name(key: APIKey) -> str:
    return f"“{key.description}” (…{key.last6})"


def key_facts(key: APIKey) -> dict:
    return {
        "key_id": key.id,
        "key_description": key.description,
        "key_last6": key.last6,
        "key_type": key.api_key_type.value,
    }


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def in_words(left: timedelta) -> str:
    hours = left.total_seconds() / 3600
    if hours < 1:
        return "within the hour"
    if hours < 48:
        count = round(hours)
        return f"in {count} hour{'s' if count != 1 else ''}"
    count = round(hours / 24)
    return f"in {count} days"
