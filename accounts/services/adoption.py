"""Adopting an existing account: a clean audit baseline for keys made before the portal.

A portal put in front of an account that already has keys finds them all as drift ("at Venice,
never recorded as created"). Adopting writes one `keys.adopted` record snapshotting each such
key (id, description, type, last 6, limits, period, expiry, creation time; never a secret),
after which drift counts them as recorded (selectors/audit.py reads the record's snapshot). A
key created outside the portal afterwards is drift again, and so is an adopted key deleted
outside it. Optionally, description patterns give the adopted keys a team at the same step,
each as its own `key.assigned` record; a key someone already gave a team keeps it, and an
owner already named stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from accounts.models import AuditAction, KeyOwnership
from accounts.roles import Ability
from accounts.selectors.audit import audit_drift_unrecorded_all
from accounts.services.audit import AuditContext, audit_log
from accounts.services.key_ownership import Assignment, key_assign
from accounts.venice import APIKey, get_client

ADOPT_REFUSED = "Only Administrators may adopt the account's keys."
NOTHING_TO_ADOPT = "Every key at Venice is already recorded: there is nothing to adopt."


class AdoptionRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AdoptionResult:
    adopted: int
    assigned: int
    record_id: int


def _snapshot(key: APIKey) -> dict:
    limits = key.consumption_limits
    return {
        "id": key.id,
        "description": key.description,
        "type": str(key.api_key_type),
        "last6": key.last6,
        "limits": {
            "usd": None if limits.usd is None else format(limits.usd, "f"),
            "diem": None if limits.diem is None else format(limits.diem, "f"),
        },
        "limit_period": str(key.limit_period),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "created_at": key.created_at.isoformat() if key.created_at else None,
    }


def keys_adopt(*, context: AuditContext, patterns: list | None = None) -> AdoptionResult:
    """Adopt every key Venice lists that no record accounts for (read past the cache), and
    give teams by `patterns` ([(pattern, Team)], the first match wins). Raises
    AdoptionRefused when there is nothing to adopt, VeniceError when Venice cannot be read."""
    from accounts.forms.teams import pattern_matches

    user = context.user
    if user is None or not user.has_perm(Ability.ADOPT_KEYS.permission):
        raise PermissionDenied(ADOPT_REFUSED)
    keys = get_client().api_keys.list(fresh=True)
    unrecorded = audit_drift_unrecorded_all(keys)
    if not unrecorded:
        raise AdoptionRefused(NOTHING_TO_ADOPT)
    record = audit_log(
        context,
        action=AuditAction.KEYS_ADOPTED,
        details={
            "count": len(unrecorded),
            "keys": [_snapshot(key) for key in unrecorded],
            "patterns": [[pattern, team.slug] for pattern, team in patterns or []],
        },
    )
    assigned = 0
    # A pattern fills in a missing team; a team or an owner someone already gave the key
    # (on its page, before adopting) is theirs to change, not the pattern's.
    existing = KeyOwnership.objects.in_bulk([key.id for key in unrecorded], field_name="key_id")
    for key in unrecorded:
        row = existing.get(key.id)
        if row is not None and row.team_id is not None:
            continue
        team = next((t for p, t in patterns or [] if pattern_matches(p, key.description)), None)
        if team is not None:
            assigned += key_assign(
                context=context,
                key_id=key.id,
                description=key.description,
                last6=key.last6,
                assignment=Assignment(
                    team=team,
                    owner=row.owner if row else None,
                    owner_contact=row.owner_contact if row else "",
                ),
                check=False,
            )
    return AdoptionResult(adopted=len(unrecorded), assigned=assigned, record_id=record.pk)
