"""Teams: create, change and delete them, add and remove members, and limit a Key manager to
their teams' keys. Administrators only (Ability.MANAGE_TEAMS, checked here again); every change
is an audit record on the chain, written in the same transaction as the change."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditAction, KeyManagerScope, KeyOwnership, Team, TeamMembership
from accounts.roles import Ability
from accounts.services.audit import AuditContext, audit_log, member_details

TEAMS_REFUSED = "Only Administrators may create and change teams."
ALREADY_MEMBER = "{name} is already in {team}."
NOT_A_MEMBER = "{name} is not in {team}."

TEAM_FIELDS = ("name", "slug", "budget_usd", "budget_diem")


class TeamChangeRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _check(context: AuditContext) -> None:
    user = context.user
    if user is None or not user.has_perm(Ability.MANAGE_TEAMS.permission):
        raise PermissionDenied(TEAMS_REFUSED)


def _json(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def team_details(team: Team) -> dict:
    return {"team": team.name, "team_slug": team.slug, "team_id": team.pk}


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def team_create(
    *,
    context: AuditContext,
    name: str,
    slug: str,
    budget_usd: Decimal | None = None,
    budget_diem: Decimal | None = None,
) -> Team:
    _check(context)
    with transaction.atomic():
        team = Team.objects.create(
            name=name, slug=slug, budget_usd=budget_usd, budget_diem=budget_diem
        )
        values = {field: _json(getattr(team, field)) for field in TEAM_FIELDS}
        audit_log(
            context,
            action=AuditAction.TEAM_CREATED,
            changes={field: [None, value] for field, value in values.items() if value is not None},
            details=team_details(team),
        )
    return team


def team_update(*, context: AuditContext, team: Team, **values) -> bool:
    """Change the given fields (of TEAM_FIELDS); returns whether anything changed."""
    _check(context)
    unknown = set(values) - set(TEAM_FIELDS)
    if unknown:
        raise TypeError(f"Unknown team fields: {sorted(unknown)}")
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        changes = {
            field: [_json(getattr(team, field)), _json(value)]
            for field, value in values.items()
            if _json(getattr(team, field)) != _json(value)
        }
        if not changes:
            return False
        for field, value in values.items():
            setattr(team, field, value)
        team.save()
        audit_log(
            context, action=AuditAction.TEAM_UPDATED, changes=changes, details=team_details(team)
        )
    return True


def team_delete(*, context: AuditContext, team: Team) -> int:
    """Delete a team: its keys keep their owners and have no team any more (their spend is
    then Unassigned). Returns how many keys it had."""
    _check(context)
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        keys = KeyOwnership.objects.filter(team=team).count()
        members = list(team.memberships.values_list("user__username", flat=True))
        details = {**team_details(team), "keys": keys, "members": members}
        team.delete()
        audit_log(context, action=AuditAction.TEAM_DELETED, details=details)
    return keys


def team_member_add(*, context: AuditContext, team: Team, member) -> TeamMembership:
    _check(context)
    with transaction.atomic():
        if TeamMembership.objects.filter(team=team, user=member).exists():
            raise TeamChangeRefused(ALREADY_MEMBER.format(name=_name(member), team=team.name))
        membership = TeamMembership.objects.create(team=team, user=member)
        audit_log(
            context,
            action=AuditAction.TEAM_MEMBER_ADDED,
            details={**team_details(team), **member_details(member)},
        )
    return membership


def team_member_remove(*, context: AuditContext, team: Team, member) -> None:
    _check(context)
    with transaction.atomic():
        deleted, _ = TeamMembership.objects.filter(team=team, user=member).delete()
        if not deleted:
            raise TeamChangeRefused(NOT_A_MEMBER.format(name=_name(member), team=team.name))
        audit_log(
            context,
            action=AuditAction.TEAM_MEMBER_REMOVED,
            details={**team_details(team), **member_details(member)},
        )


def member_key_scope_set(*, context: AuditContext, member, scoped: bool) -> bool:
    """Limit `member` (a Key manager) to their teams' keys, or lift the limit. Returns whether
    anything changed. PORTAL_SCOPE_KEY_MANAGERS=1 limits every Key manager whatever this says."""
    _check(context)
    with transaction.atomic():
        existing = KeyManagerScope.objects.select_for_update().filter(user=member).first()
        if bool(existing) == scoped:
            return False
        if scoped:
            KeyManagerScope.objects.create(
                user=member, set_at=timezone.now(), set_by_username=context.username
            )
        else:
            existing.delete()
        audit_log(
            context,
            action=AuditAction.MEMBER_KEY_SCOPE_CHANGED,
            changes={"scoped": [not scoped, scoped]},
            details=member_details(member),
        )
    return True
