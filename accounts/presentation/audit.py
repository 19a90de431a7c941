"""Every audit record as a sentence: "kim rotated “Production backend” …F80ymm: the old key
retires Dec 2, 2026, 04:17 UTC".

One entry per action in WORDING: the verb (as done, and as attempted: a failed or pending
record says what was tried, not what happened) and what follows it, built from the record's
own snapshot (key description and last 6, changes, details). A new action is one entry here;
tests/test_presentation_audit.py fails for an action without one. Nothing in a record is a
secret (the services never write one), and a sentence uses nothing else.

The codes (the action's id, raw changes and details) stay one click away: on the record's own
page, and in the list under each sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.presentation import dates, names, numbers
from accounts.presentation.audit_access import ACCESS_WORDING
from accounts.presentation.audit_alerts import ALERT_WORDING
from accounts.presentation.audit_teams import TEAMS_WORDING
from accounts.presentation.audit_words import Wording, key_phrase, parse_moment, when
from accounts.services.audit import VIA_TOKEN

# How a record's fields read inside a sentence.
FIELD_NAMES = {
    "description": "description",
    "consumption_limits.usd": "USD limit",
    "consumption_limits.diem": "DIEM limit",
    "limit_period": "limit period",
    "model_privacy": "model privacy",
    "expires_at": "expiry",
    "api_key_type": "type",
}
GRACE = {
    "now": "no grace period",
    "1h": "1 hour's grace",
    "24h": "24 hours' grace",
    "7d": "7 days' grace",
    "custom": "a grace period of their choosing",
}
ROTATION_STEPS = {
    "started": "creating the replacement",
    "replacement_created": "retiring the old key",
    "grace": "deleting the old key",
}
EXPORTS = {
    "ledger": "the usage ledger",
    "ledger-venice": "the usage ledger (Venice's columns)",
    "spend-by-key": "spend by key",
    "spend-by-model": "spend by model",
    "allocation": "the cost allocation by team",
    "allocation-focus": "the cost allocation by team (FOCUS)",
}


# --- values ----------------------------------------------------------------------------------


def _expiring(value) -> str:
    parsed = parse_moment(value)
    return f"expiring {dates.prose(parsed)}" if parsed else "with no expiry"


def _money(value, currency: str) -> str:
    if value in (None, ""):
        return "none"
    try:
        return numbers.money(Decimal(str(value)), currency)
    except InvalidOperation:
        return str(value)


def field_value(field: str, value) -> str:
    """A changed field's value as a sentence writes it."""
    if field == "consumption_limits.usd":
        return _money(value, "USD")
    if field == "consumption_limits.diem":
        return _money(value, "DIEM")
    if field == "limit_period":
        return names.limit_period_label(value).lower() if value else "none"
    if field == "model_privacy":
        return names.model_privacy_label(value).lower() if value else "none"
    if field == "expires_at":
        return when(value)
    if value in (None, ""):
        return "none"
    return f"“{value}”"


def _day(value) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _days(start: date | None, end: date | None) -> str:
    if start and end:
        return dates.range_prose(start, end)
    if start:
        return f"from {dates.day_prose(start)}"
    if end:
        return f"up to {dates.day_prose(end)}"
    return "all dates"


def _rows(event: AuditEvent) -> str:
    rows = (event.details or {}).get("rows")
    if rows is None or event.outcome == AuditOutcome.PENDING:
        return ""
    return f", {numbers.count(rows)} row{'s' if rows != 1 else ''}"


# --- what follows each verb ----------------------------------------------------------------


def _created(event: AuditEvent) -> str:
    settings = (event.details or {}).get("settings") or {}
    parts = []
    if settings.get("api_key_type"):
        parts.append(f"an {settings['api_key_type']} key")
    limits = [
        _money(settings[name], currency)
        for name, currency in (("usd_limit", "USD"), ("diem_limit", "DIEM"))
        if settings.get(name) not in (None, "")
    ]
    if limits:
        period = names.limit_period_phrase(settings.get("limit_period") or "")
        parts.append(f"limited to {' and '.join(limits)} {period}".rstrip())
    if "expires_at" in settings:
        parts.append(_expiring(settings.get("expires_at")))
    text = key_phrase(event) + (f", {', '.join(parts)}" if parts else "")
    if (event.details or {}).get("secret_lost"):
        text += "; its secret never reached anyone (rotate or delete it)"
    return text


def _updated(event: AuditEvent) -> str:
    changes = []
    for field, values in sorted((event.changes or {}).items()):
        before, after = (values + [None, None])[:2] if isinstance(values, list) else (None, values)
        label = FIELD_NAMES.get(field, field.replace("_", " "))
        changes.append(f"{label} from {field_value(field, before)} to {field_value(field, after)}")
    return key_phrase(event) + (f": {'; '.join(changes)}" if changes else "")


def _deleted(event: AuditEvent) -> str:
    text = key_phrase(event)
    if (event.details or {}).get("reason"):
        text += f" ({event.details['reason']})"
    return text


def _rotation_started(event: AuditEvent) -> str:
    details = event.details or {}
    grace = details.get("grace")
    if grace == "now":
        tail = "; the old key goes at once"
    elif details.get("retire_at"):
        tail = f"; the old key retires {when(details['retire_at'])}"
    else:
        tail = ""
    return f"{key_phrase(event)}{tail}"


def _replacement(event: AuditEvent) -> str:
    details = event.details or {}
    description = details.get("new_description") or event.key_description
    new = f" …{event.key_last6}" if event.key_last6 else ""
    text = f"for “{description}”{new}, {_expiring(details.get('new_expires_at'))}"
    if details.get("secret_lost"):
        text += "; its secret never reached anyone"
    return text


def _scheduled(event: AuditEvent) -> str:
    details = event.details or {}
    retire = (event.changes or {}).get("expires_at", [None, None])
    grace = GRACE.get(details.get("grace") or "", "")
    text = f"{key_phrase(event)} to retire {when(retire[1] if len(retire) > 1 else None)}"
    return text + (f" ({grace})" if grace else "")


def _old_deleted(event: AuditEvent) -> str:
    text = key_phrase(event)
    if (event.details or {}).get("already_gone"):
        text += " (it was already gone)"
    return text


def _completed(event: AuditEvent) -> str:
    new = f": …{event.key_last6} replaces the old key" if event.key_last6 else ""
    return f"“{event.key_description}”{new}" if event.key_description else f"a key{new}"


def _failed(event: AuditEvent) -> str:
    details = event.details or {}
    step = ROTATION_STEPS.get(details.get("step") or "", "a step")
    status = f" (HTTP {details['status']})" if details.get("status") else ""
    return (
        f"{key_phrase(event)} by {actor_name(event)} stopped while {step}{status}; it can be "
        "resumed or aborted"
    )


def _aborted(event: AuditEvent) -> str:
    details = event.details or {}
    if details.get("replacement_deleted"):
        tail = "; the replacement was deleted"
    elif details.get("new_key_id"):
        tail = "; the replacement was kept"
    else:
        tail = " before a replacement was made"
    return f"{key_phrase(event)}{tail}"


def _grace_extended(event: AuditEvent) -> str:
    retire = (event.changes or {}).get("expires_at") or [None, None]
    text = f"of {key_phrase(event)} to {when(retire[-1])}"
    if (event.details or {}).get("old_still_used"):
        text += " (the old key was still in use)"
    return text


def _finished_early(event: AuditEvent) -> str:
    """ "“X” …abc123 early: it was last used …, the new key first seen …". An old key
    never used read "idle since never"; and the new key's first use is when the watch first
    saw it (as the key's page says), not necessarily when it began."""
    details = event.details or {}
    old_used = details.get("old_last_used_at")
    idle = f"was last used {when(old_used)}" if old_used else "was never used"
    new_seen = details.get("new_first_used_at")
    seen = f", the new key first seen {when(new_seen)}" if new_seen else ""
    return (
        f"{key_phrase(event)} early: it {idle}{seen} (the grace would have ended "
        f"{when(details.get('grace_would_end'))})"
    )


SINKS = {"file": "a file", "command": "a command", "webhook": "a webhook"}


def _delivered(event: AuditEvent) -> str:
    sink = SINKS.get((event.details or {}).get("sink") or "", "its sink")
    return f"of {key_phrase(event)} to the rotation schedule's {sink.split(' ', 1)[-1]}"


def _schedule_set(event: AuditEvent) -> str:
    details = event.details or {}
    every = str(details.get("every") or "")  # str(timedelta): "30 days, 0:00:00"
    days = every.split(" day")[0] if " day" in every else every
    period = "day" if days == "1" else f"{days} days"
    grace = GRACE.get(details.get("grace") or "", "")
    sink = SINKS.get(details.get("sink") or "", "its sink")
    quiet = details.get("finish_when_quiet")
    early = ", finishing early once the old key is quiet" if quiet else ""
    return (
        f"{key_phrase(event)} to rotate every {period} ({grace}, the new secret to {sink}"
        f"{early}), next due {when(details.get('next_due_at'))}"
    )


def _audit_filters(filters: dict) -> str:
    parts = []
    actions = filters.get("action") or []
    if isinstance(actions, str):
        actions = [actions]
    if actions:
        parts.append(" or ".join(action_label(action).lower() for action in actions))
    if filters.get("actor"):
        parts.append(f"by {filters['actor']}")
    if filters.get("key"):
        parts.append(f"key “{filters['key']}”")
    if filters.get("outcome"):
        parts.append(str(filters["outcome"]))
    if filters.get("date_from") or filters.get("date_to"):
        parts.append(_days(_day(filters.get("date_from")), _day(filters.get("date_to"))))
    return f" ({', '.join(parts)})" if parts else " (every record)"


def _audit_exported(event: AuditEvent) -> str:
    details = event.details or {}
    if details.get("format") == "jsonl":
        after = details.get("after") or 0
        return "the audit log's hash chain" + (f" after record {after}" if after else "")
    return "the audit log" + _audit_filters(details.get("filters") or {})


def _usage_exported(event: AuditEvent) -> str:
    details = event.details or {}
    filters = details.get("filters") or {}
    start = _day(filters.get("from") or filters.get("start"))
    if filters.get("to"):
        end = _day(filters["to"])
    else:
        # Before the readable exports, the record kept the exclusive end (the next midnight).
        exclusive = parse_moment(filters.get("end"))
        end = (exclusive - timedelta(microseconds=1)).date() if exclusive else None
    parts = [_days(start, end)]
    if filters.get("currency"):
        parts.append(names.currency_label(filters["currency"]))
    if filters.get("model"):
        parts.append(names.model_name(filters["model"]))
    what = EXPORTS.get(details.get("export") or "ledger", "the usage ledger")
    return f"{what} for {', '.join(parts)}{_rows(event)}"


# --- the registry ----------------------------------------------------------------------------


WORDING: dict[str, Wording] = {
    AuditAction.KEY_CREATED: Wording("Key created", "created", "create", _created),
    AuditAction.KEY_UPDATED: Wording("Key changed", "changed", "change", _updated),
    AuditAction.KEY_DELETED: Wording("Key deleted", "deleted", "delete", _deleted),
    AuditAction.ROTATION_STARTED: Wording(
        "Rotation started", "started rotating", "start rotating", _rotation_started
    ),
    AuditAction.ROTATION_REPLACEMENT_CREATED: Wording(
        "Rotation: replacement key created",
        "created the replacement key",
        "create the replacement key",
        _replacement,
    ),
    AuditAction.ROTATION_OLD_KEY_SCHEDULED: Wording(
        "Rotation: old key's retirement set", "set", "set", _scheduled
    ),
    AuditAction.ROTATION_OLD_KEY_DELETED: Wording(
        "Rotation: old key deleted", "deleted the old key", "delete the old key", _old_deleted
    ),
    AuditAction.ROTATION_COMPLETED: Wording(
        "Rotation completed", "completed the rotation of", "complete the rotation of", _completed
    ),
    # Written when a step fails (outcome failed): "The rotation of … by kim stopped while …".
    AuditAction.ROTATION_FAILED: Wording("Rotation failed", "", "", _failed),
    AuditAction.ROTATION_ABORTED: Wording(
        "Rotation aborted", "aborted the rotation of", "abort the rotation of", _aborted
    ),
    AuditAction.ROTATION_GRACE_EXTENDED: Wording(
        "Rotation: grace period extended",
        "extended the grace period",
        "extend the grace period",
        _grace_extended,
    ),
    AuditAction.ROTATION_FINISHED_EARLY: Wording(
        "Rotation finished early (old key quiet)",
        "deleted the old key",
        "delete the old key",
        _finished_early,
    ),
    AuditAction.ROTATION_SECRET_DELIVERED: Wording(
        "Rotation: new secret delivered",
        "delivered the new secret",
        "deliver the new secret",
        _delivered,
    ),
    AuditAction.ROTATION_SCHEDULE_SET: Wording(
        "Rotation schedule set", "scheduled", "schedule", _schedule_set
    ),
    AuditAction.ROTATION_SCHEDULE_REMOVED: Wording(
        "Rotation schedule removed",
        "removed the rotation schedule of",
        "remove the rotation schedule of",
        key_phrase,
    ),
    AuditAction.AUDIT_EXPORTED: Wording(
        "Audit log exported", "exported", "export", _audit_exported
    ),
    AuditAction.BILLING_USAGE_EXPORTED: Wording(
        "Usage exported", "exported", "export", _usage_exported
    ),
    **ACCESS_WORDING,
    **ALERT_WORDING,
    **TEAMS_WORDING,
}


def action_label(action: str) -> str:
    wording = WORDING.get(action)
    return wording.label if wording else action


def action_choices() -> list[tuple[str, str]]:
    """Every action, as the filter offers it, in the order of AuditAction."""
    return [(action.value, action_label(action.value)) for action in AuditAction]


def actor_name(event: AuditEvent) -> str:
    if event.actor_username:
        token = (event.details or {}).get(VIA_TOKEN)
        if isinstance(token, dict):
            return f"{event.actor_username} (with the API token “{token.get('name', '?')}”)"
        return event.actor_username
    agent = event.user_agent or ""
    if agent.startswith("manage.py "):
        return f"The portal ({agent.removeprefix('manage.py ')})"
    return "The portal"


def audit_sentence(event: AuditEvent) -> str:
    """The record as a sentence, in the viewer's time zone; the action's code when the
    action has no wording (which the tests forbid)."""
    wording = WORDING.get(event.action)
    if wording is None:
        return f"{actor_name(event)}: {event.action}"
    who = actor_name(event)
    rest = wording.rest(event)
    if wording.standalone:
        return rest
    if event.outcome == AuditOutcome.FAILED:
        if event.action == AuditAction.ROTATION_FAILED:
            return f"The rotation of {rest}"
        return f"{who} tried to {wording.attempt} {rest}, and it failed"
    if event.outcome == AuditOutcome.PENDING:
        return f"{who} began to {wording.attempt} {rest}; the outcome is not recorded yet"
    if event.action == AuditAction.ROTATION_FAILED:
        return f"The rotation of {rest}"
    return f"{who} {wording.done} {rest}".rstrip()


def rotation_sentence(rotation) -> str:
    """A rotation (accounts.models.Rotation) as the heading of its records: "kim rotated
    “Production backend” …F80ymm to …a1b2c3; the old key retires Dec 2, 2026, 04:17 UTC"."""
    who = rotation.started_by_username or "The portal"
    old = f"“{rotation.old_description}” …{rotation.old_last6}"
    new = f" to …{rotation.new_last6}" if rotation.new_last6 else ""
    state = rotation.state
    if state == "completed":
        return f"{who} rotated {old}{new}; the old key is deleted"
    if state == "grace" and rotation.retire_at:
        return f"{who} rotated {old}{new}; the old key retires {dates.prose(rotation.retire_at)}"
    if state == "failed":
        return f"{who}'s rotation of {old} stopped; resume or abort it on the key's page"
    if state == "aborted":
        return f"{who} began rotating {old}{new}, then aborted it"
    return f"{who} is rotating {old}{new}"


# --- the list: records, and each rotation's records under it ---------------------------------


@dataclass(frozen=True)
class Entry:
    event: AuditEvent
    sentence: str
    is_member: bool = False  # one of a rotation's records, under its heading
    url: str = ""  # the record's own page


@dataclass(frozen=True)
class RotationGroup:
    rotation_id: int
    sentence: str  # the rotation as a whole
    entries: tuple[Entry, ...]


def rotation_of(event: AuditEvent) -> int | None:
    value = (event.details or {}).get("rotation")
    return value if isinstance(value, int) else None


def audit_entries(
    events, rotations: dict, *, detail_url: Callable[[int], str] = lambda pk: ""
) -> list[Entry | RotationGroup]:
    """The page's records as sentences, newest first, a rotation's records next to each other
    gathered under a heading for the rotation (`rotations`: its Rotation by id, when known).
    `detail_url` gives each record's page."""
    items: list[Entry | RotationGroup] = []
    run: list[AuditEvent] = []

    def entry(event: AuditEvent, member: bool = False) -> Entry:
        return Entry(event, audit_sentence(event), member, detail_url(event.pk))

    def flush():
        if not run:
            return
        rotation_id = rotation_of(run[0])
        if len(run) == 1 or rotation_id not in rotations:
            items.extend(entry(event) for event in run)
        else:
            entries = tuple(entry(event, True) for event in run)
            heading = rotation_sentence(rotations[rotation_id])
            items.append(RotationGroup(rotation_id, heading, entries))
        run.clear()

    for event in events:
        if run and (rotation_of(event) is None or rotation_of(event) != rotation_of(run[0])):
            flush()
        if rotation_of(event) is None:
            items.append(entry(event))
        else:
            run.append(event)
    flush()
    return items
