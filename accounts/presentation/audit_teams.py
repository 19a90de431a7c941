"""Audit sentences for teams, key ownership, a Key manager's scope and the adoption of existing
keys. accounts/presentation/audit.py joins these to the other actions' wording in one WORDING."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from accounts.models import AuditAction, AuditEvent
from accounts.presentation import numbers
from accounts.presentation.audit_words import Wording, key_phrase

TEAM_FIELDS = {
    "name": "name",
    "slug": "short name",
    "budget_usd": "monthly USD budget",
    "budget_diem": "monthly DIEM budget",
}
ASSIGNED_FIELDS = {"team": "team", "owner": "owner", "owner_contact": "owner (contact)"}


def _team(event: AuditEvent) -> str:
    details = event.details or {}
    return f"the team “{details.get('team') or details.get('team_slug') or '?'}”"


def _team_value(field: str, value) -> str:
    if value in (None, ""):
        return "none"
    if field in ("budget_usd", "budget_diem"):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return numbers.usd(amount) if field == "budget_usd" else numbers.diem(amount)
    return f"“{value}”"


def _team_changes(event: AuditEvent, *, created: bool = False) -> str:
    parts = []
    for field, values in (event.changes or {}).items():
        name = TEAM_FIELDS.get(field, field)
        before, after = values
        if created:
            if field in ("budget_usd", "budget_diem"):
                parts.append(f"a {name} of {_team_value(field, after)}")
        else:
            parts.append(f"{name} from {_team_value(field, before)} to {_team_value(field, after)}")
    return ", ".join(parts)


def _team_created(event: AuditEvent) -> str:
    budgets = _team_changes(event, created=True)
    return _team(event) + (f", with {budgets}" if budgets else "")


def _team_updated(event: AuditEvent) -> str:
    changes = _team_changes(event)
    return _team(event) + (f": {changes}" if changes else "")


def _team_deleted(event: AuditEvent) -> str:
    keys = (event.details or {}).get("keys") or 0
    if not keys:
        return _team(event)
    return (
        f"{_team(event)}; its {numbers.count(keys)} key{'s' if keys != 1 else ''} have no team now"
    )


def _member(event: AuditEvent) -> str:
    return (event.details or {}).get("member") or "a member"


def _member_added(event: AuditEvent) -> str:
    return f"{_member(event)} to {_team(event)}"


def _member_removed(event: AuditEvent) -> str:
    return f"{_member(event)} from {_team(event)}"


def _scope(event: AuditEvent) -> str:
    scoped = ((event.changes or {}).get("scoped") or [None, None])[1]
    limit = "only their teams' keys" if scoped else "every INFERENCE key, whatever its team"
    return f"{_member(event)}: {limit}"


def _assigned_value(field: str, value) -> str:
    if value in (None, ""):
        return "none"
    return f"“{value}”" if field != "owner" else str(value)


def _assigned(event: AuditEvent) -> str:
    parts = []
    for field, (before, after) in (event.changes or {}).items():
        name = ASSIGNED_FIELDS.get(field, field)
        parts.append(
            f"{name} from {_assigned_value(field, before)} to {_assigned_value(field, after)}"
        )
    bulk = (event.details or {}).get("bulk")
    extra = f" (one of {numbers.count(bulk)} keys at once)" if bulk and bulk > 1 else ""
    return f"{key_phrase(event)}: {', '.join(parts)}{extra}"


def _adopted(event: AuditEvent) -> str:
    details = event.details or {}
    count = details.get("count") or len(details.get("keys") or [])
    return f"{numbers.count(count)} existing key{'s' if count != 1 else ''} into the audit baseline"


TEAMS_WORDING: dict[str, Wording] = {
    AuditAction.TEAM_CREATED: Wording("Team created", "created", "create", _team_created),
    AuditAction.TEAM_UPDATED: Wording("Team changed", "changed", "change", _team_updated),
    AuditAction.TEAM_DELETED: Wording("Team deleted", "deleted", "delete", _team_deleted),
    AuditAction.TEAM_MEMBER_ADDED: Wording("Team member added", "added", "add", _member_added),
    AuditAction.TEAM_MEMBER_REMOVED: Wording(
        "Team member removed", "removed", "remove", _member_removed
    ),
    AuditAction.MEMBER_KEY_SCOPE_CHANGED: Wording(
        "Key manager's scope changed",
        "changed which keys may be changed by",
        "change which keys may be changed by",
        _scope,
    ),
    AuditAction.KEY_ASSIGNED: Wording(
        "Key's team or owner set",
        "set the team and owner of",
        "set the team and owner of",
        _assigned,
    ),
    AuditAction.KEYS_ADOPTED: Wording("Existing keys adopted", "adopted", "adopt", _adopted),
}
