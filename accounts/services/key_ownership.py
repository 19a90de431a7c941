"""Who owns each key, and which keys a scoped Key manager may change.

A key's ownership (models/teams.py `KeyOwnership`) names its team and its owner: a portal
member, or a free-text contact for a service. Setting it is an audit record on the chain
(`key.assigned`, one per key, so each key's trail holds its own), made here only.

Scoping: a Key manager limited to their teams' keys (`PORTAL_SCOPE_KEY_MANAGERS=1`, or one by
one with a `KeyManagerScope`) sees every key but may create, change, rotate, delete and assign
only keys of their teams, and a key they create must name one of their teams. The key and
rotation services ask `check_key_in_scope` before anything is recorded or sent (the second
lock; the views ask `may_change_key` first, to show the 403 page).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import AuditAction, KeyManagerScope, KeyOwnership, Team, TeamMembership
from accounts.roles import Ability
from accounts.services.audit import AuditContext, audit_log

logger = logging.getLogger(__name__)

ASSIGN_REFUSED = "Your role may not set a key's team or owner."
OUTSIDE_SCOPE = (
    "You may change only your teams' keys, and “{key}” belongs to {team}. Ask one of its "
    "team's Key managers, or an Administrator."
)
OUTSIDE_SCOPE_NO_TEAM = (
    "You may change only your teams' keys, and “{key}” has no team yet. An Administrator can "
    "assign it to one of your teams."
)
NEW_KEY_OUTSIDE_SCOPE = (
    "Choose one of your teams for the new key: you may create keys only for your teams."
)
TEAM_OUTSIDE_SCOPE = "You may assign keys only to your own teams."
TEAM_REQUIRED = "Choose the key's team: this portal requires every new key to have one."
ONE_OWNER = "Name the owner as a member or as a contact, not both."
NO_SUCH_TEAM = "There is no such team."
NO_SUCH_OWNER = "There is no such active member."


class KeyScopeRefused(PermissionDenied):
    """A change outside a scoped Key manager's teams; raised before anything is recorded or
    sent. `message` says why and whom to ask."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OwnershipInvalid(ValueError):
    """An assignment naming something that does not exist, or two owners at once."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Assignment:
    """What to set on a key: its team (None: none), and one owner (a member or a contact)."""

    team: Team | None = None
    owner: object | None = None  # a User
    owner_contact: str = ""

    @classmethod
    def from_ids(cls, *, team_id=None, owner_id=None, owner_contact: str = "") -> Assignment:
        team = owner = None
        if team_id not in (None, ""):
            team = Team.objects.filter(pk=team_id).first()
            if team is None:
                raise OwnershipInvalid(NO_SUCH_TEAM, "team")
        if owner_id not in (None, ""):
            owner = get_user_model().objects.filter(pk=owner_id, is_active=True).first()
            if owner is None:
                raise OwnershipInvalid(NO_SUCH_OWNER, "owner")
        contact = (owner_contact or "").strip()
        if owner is not None and contact:
            raise OwnershipInvalid(ONE_OWNER, "owner_contact")
        return cls(team=team, owner=owner, owner_contact=contact)

    def as_payload(self) -> dict:
        """The create service's keyword arguments (JSON-safe, for a held change request)."""
        return {
            "team_id": self.team.pk if self.team else None,
            "owner_id": self.owner.pk if self.owner else None,
            "owner_contact": self.owner_contact,
        }


# --- scope ------------------------------------------------------------------------------------


def key_manager_is_scoped(user) -> bool:
    """Whether `user` may change only their teams' keys. Administrators never are."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.has_perm(Ability.MANAGE_ADMIN_KEYS.permission):
        return False
    if settings.PORTAL_SCOPE_KEY_MANAGERS:
        return True
    return KeyManagerScope.objects.filter(user=user).exists()


def team_ids_of(user) -> set[int]:
    if user is None or not getattr(user, "pk", None):
        return set()
    return set(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True))


def teams_assignable_by(user):
    """The teams `user` may put a key in: every team, or their own when scoped."""
    teams = Team.objects.order_by("name")
    if key_manager_is_scoped(user):
        teams = teams.filter(pk__in=team_ids_of(user))
    return teams


def ownership_of(key_id: str) -> KeyOwnership | None:
    return KeyOwnership.objects.select_related("team", "owner").filter(key_id=key_id).first()


def ownerships_by_key() -> dict[str, KeyOwnership]:
    """Every key's ownership, by key id (one query, for lists)."""
    rows = KeyOwnership.objects.select_related("team", "owner")
    return {row.key_id: row for row in rows}


def may_change_key(user, key_id: str) -> bool:
    """Whether the scope lets `user` change this key (the role is checked elsewhere)."""
    if not key_manager_is_scoped(user):
        return True
    ownership = KeyOwnership.objects.filter(key_id=key_id).values_list("team_id", flat=True)
    team_id = ownership.first()
    return team_id is not None and team_id in team_ids_of(user)


def scope_refusal(user, key_id: str, description: str) -> str | None:
    """Why the scope refuses `user` this key, or None."""
    if may_change_key(user, key_id):
        return None
    ownership = ownership_of(key_id)
    if ownership is None or ownership.team is None:
        return OUTSIDE_SCOPE_NO_TEAM.format(key=description)
    return OUTSIDE_SCOPE.format(key=description, team=ownership.team.name)


def check_key_in_scope(user, key_id: str, description: str = "") -> None:
    """The services' second lock: raises KeyScopeRefused outside a scoped manager's teams."""
    message = scope_refusal(user, key_id, description or key_id)
    if message is not None:
        raise KeyScopeRefused(message)


def check_new_key_assignment(user, assignment: Assignment) -> None:
    """Before a create: a scoped manager names one of their teams; the setting may require a
    team of everyone."""
    if key_manager_is_scoped(user):
        if assignment.team is None or assignment.team.pk not in team_ids_of(user):
            raise KeyScopeRefused(NEW_KEY_OUTSIDE_SCOPE)
    if settings.PORTAL_REQUIRE_KEY_TEAM and assignment.team is None:
        raise OwnershipInvalid(TEAM_REQUIRED, "team")


# --- assigning ----------------------------------------------------------------------------------


def _check_may_assign(context: AuditContext, key_id: str, description: str, team) -> None:
    user = context.user
    if user is None or not user.has_perm(Ability.ASSIGN_KEYS.permission):
        raise PermissionDenied(ASSIGN_REFUSED)
    check_key_in_scope(user, key_id, description)
    if key_manager_is_scoped(user) and team is not None and team.pk not in team_ids_of(user):
        raise KeyScopeRefused(TEAM_OUTSIDE_SCOPE)


def _owner_name(user) -> str | None:
    return user.get_username() if user is not None else None


def key_assign(
    *,
    context: AuditContext,
    key_id: str,
    description: str,
    last6: str,
    assignment: Assignment,
    bulk: int | None = None,
    check: bool = True,
) -> bool:
    """Set one key's team and owner. Returns whether anything changed; a change is a
    `key.assigned` record naming before and after. `check=False` only for the create service,
    which has checked the actor for the whole create already."""
    if check:
        _check_may_assign(context, key_id, description, assignment.team)
    with transaction.atomic():
        row = KeyOwnership.objects.select_for_update().filter(key_id=key_id).first()
        before = {
            "team": row.team.name if row and row.team else None,
            "owner": _owner_name(row.owner) if row else None,
            "owner_contact": (row.owner_contact or None) if row else None,
        }
        after = {
            "team": assignment.team.name if assignment.team else None,
            "owner": _owner_name(assignment.owner),
            "owner_contact": assignment.owner_contact or None,
        }
        changes = {
            name: [before[name], after[name]] for name in after if before[name] != after[name]
        }
        if not changes:
            return False
        row = row or KeyOwnership(key_id=key_id)
        row.key_description = (description or "")[:128]
        row.key_last6 = (last6 or "")[-6:]
        row.team = assignment.team
        row.owner = assignment.owner
        row.owner_contact = assignment.owner_contact
        row.updated_at = timezone.now()
        row.updated_by_username = context.username
        row.save()
        details = {"team_slug": assignment.team.slug if assignment.team else None}
        if bulk:
            details["bulk"] = bulk
        audit_log(
            context,
            action=AuditAction.KEY_ASSIGNED,
            key_id=key_id,
            description=description,
            last6=last6,
            changes=changes,
            details=details,
        )
    return True


def keys_assign_bulk(*, context: AuditContext, keys: list, assignment: Assignment) -> int:
    """Set the same team and owner on several keys (APIKeys); all or none are checked first,
    so one key outside a scoped manager's teams refuses the lot. Returns how many changed."""
    for key in keys:
        _check_may_assign(context, key.id, key.description, assignment.team)
    changed = 0
    for key in keys:
        changed += key_assign(
            context=context,
            key_id=key.id,
            description=key.description,
            last6=key.last6,
            assignment=assignment,
            bulk=len(keys),
            check=False,
        )
    return changed


def ownership_follow_rotation(*, old_key_id: str, new_key) -> None:
    """A rotation's replacement is the same key to its users: it keeps the old key's team and
    owner. The rotation's own records say which key replaced which; no record of its own.

    Called right after Venice made the replacement, whose secret is not shown yet: a database
    failure here must not lose it, so it is logged and the ownership left for a person to set
    (the rotation's own bookkeeping reports the database's state)."""
    try:
        _copy_ownership(old_key_id, new_key)
    except DatabaseError:
        logger.exception("Could not copy the ownership of %s to its replacement", old_key_id)


def _copy_ownership(old_key_id: str, new_key) -> None:
    old = KeyOwnership.objects.filter(key_id=old_key_id).first()
    if old is None:
        return
    KeyOwnership.objects.update_or_create(
        key_id=new_key.id,
        defaults={
            "key_description": (new_key.description or "")[:128],
            "key_last6": (new_key.last6 or "")[-6:],
            "team": old.team,
            "owner": old.owner,
            "owner_contact": old.owner_contact,
            "updated_at": timezone.now(),
            "updated_by_username": old.updated_by_username,
        },
    )
