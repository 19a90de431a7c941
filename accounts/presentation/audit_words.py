"""What every audit sentence is made of: the Wording of an action, and how a record's time
and key read inside a sentence (accounts/presentation/audit.py puts them together)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from accounts.models import AuditEvent
from accounts.presentation import dates, names


@dataclass(frozen=True)
class Wording:
    """How one action reads: `label` for the filter, the verb as done and as attempted, and
    what follows it. A `standalone` action's `rest` is the whole sentence, whatever the
    outcome (a failed sign-in is a record of a failure, not a failed record)."""

    label: str
    done: str  # "deleted"
    attempt: str  # "delete"
    rest: Callable[[AuditEvent], str]
    standalone: bool = False


def parse_moment(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def when(value) -> str:
    parsed = parse_moment(value)
    return dates.prose(parsed) if parsed else "never"


def key_phrase(event: AuditEvent) -> str:
    if not (event.key_description or event.key_last6):
        return "a key" if not event.key_id else f"key {event.key_id}"
    label = names.key_label(event.key_description, event.key_last6)
    description, _, last6 = label.rpartition(" …") if event.key_last6 else (label, "", "")
    return f"“{description}” …{last6}" if event.key_last6 else f"“{label}”"
