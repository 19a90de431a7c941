"""Members: roles, deactivation, second factors and sessions. Every change is an audit record.

These are the only functions that change who may do what in the portal. Each checks that the
actor may manage members (the second lock; views check first) and keeps one rule: the portal
always has an active Administrator, so nobody can demote or deactivate the last one.

Role changes made any other way (the Django admin, a data migration, the shell) are recorded
too: `record_role_changes` listens to group membership and writes one record per change,
once the transaction that made it commits.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar

from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import AuditAction
from accounts.roles import ADMINISTRATOR, ROLES, Ability, role_of
from accounts.services.audit import AuditContext, acting_context, audit_log, member_details
from accounts.services.sessions import sessions_revoke_all

MEMBERS_REFUSED = "Your role may not manage members."
LAST_ADMINISTRATOR = (
    "{name} is the last active Administrator: make someone else an Administrator first, or "
    "the portal would have nobody who can manage it."
)
UNKNOWN_ROLE = "Unknown role {role!r}; choose one of: {roles}."
ALREADY_INACTIVE = "{name} is already deactivated."
ALREADY_ACTIVE = "{name} is already active."
OWN_MFA_RESET = (
    "Reset another member's second factor here; change your own on Your account, where the "
    "portal asks for it first."
)
NO_MFA_TO_RESET = "{name} has no second factor to reset."

# Roles changed through member_role_change are recorded there; the listener skips them.
_recorded_here: ContextVar[bool] = ContextVar("role_change_recorded_here", default=False)


class MemberChangeRefused(Exception):
    """A change to a member the rules forbid; `message` says which and what to do instead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def member_role_change(*, context: AuditContext, member, role: str | None) -> bool:
    """Give `member` exactly `role` (None: no role). Returns whether anything changed."""
    _check_may_manage(context)
    if role is not None and role not in ROLES:
        raise MemberChangeRefused(UNKNOWN_ROLE.format(role=role, roles=", ".join(ROLES)))
    with transaction.atomic():
        member = _locked(member)
        before = role_of(member)
        if before == role:
            return False
        if before == ADMINISTRATOR and member.is_active:
            _check_not_last_administrator(member)
        with role_change_recorded_here():
            member.groups.remove(*Group.objects.filter(name__in=ROLES))
            if role is not None:
                member.groups.add(Group.objects.get(name=role))
        audit_log(
            context,
            action=AuditAction.MEMBER_ROLE_CHANGED,
            changes={"role": [before, role]},
            details=member_details(member),
        )
    return True


def member_deactivate(*, context: AuditContext, member) -> int:
    """Stop `member` from signing in, and end their sessions. Returns the sessions ended."""
    _check_may_manage(context)
    with transaction.atomic():
        member = _locked(member)
        if not member.is_active:
            raise MemberChangeRefused(ALREADY_INACTIVE.format(name=_name(member)))
        if role_of(member) == ADMINISTRATOR:
            _check_not_last_administrator(member)
        member.is_active = False
        member.save(update_fields=["is_active"])
        audit_log(
            context,
            action=AuditAction.MEMBER_DEACTIVATED,
            changes={"is_active": [True, False]},
            details=member_details(member),
        )
        return sessions_revoke_all(context=context, member=member)


def member_reactivate(*, context: AuditContext, member) -> None:
    _check_may_manage(context)
    with transaction.atomic():
        member = _locked(member)
        if member.is_active:
            raise MemberChangeRefused(ALREADY_ACTIVE.format(name=_name(member)))
        member.is_active = True
        member.save(update_fields=["is_active"])
        audit_log(
            context,
            action=AuditAction.MEMBER_REACTIVATED,
            changes={"is_active": [False, True]},
            details=member_details(member),
        )


def member_mfa_reset(*, context: AuditContext, member) -> list[str]:
    """Remove every second factor of `member` (a lost phone or key): they sign in with their
    password and enrol again. Returns the kinds removed."""
    _check_may_manage(context)
    if context.user is not None and context.user.pk == member.pk:
        raise MemberChangeRefused(OWN_MFA_RESET)
    with transaction.atomic():
        factors = Authenticator.objects.select_for_update().filter(user=member)
        kinds = sorted({factor.type for factor in factors})
        if not kinds:
            raise MemberChangeRefused(NO_MFA_TO_RESET.format(name=_name(member)))
        factors.delete()
        audit_log(
            context,
            action=AuditAction.MEMBER_MFA_RESET,
            details={**member_details(member), "removed": kinds},
        )
    return kinds


def member_sessions_revoke(*, context: AuditContext, member) -> int:
    """Sign `member` out of every browser. Returns the sessions ended."""
    _check_may_manage(context)
    return sessions_revoke_all(context=context, member=member)


def active_administrators():
    return get_user_model().objects.filter(is_active=True, groups__name=ADMINISTRATOR)


# --- role changes made any other way -----------------------------------------------------------


@contextmanager
def role_change_recorded_here():
    """Group changes inside this block are recorded by the caller, not by the listener."""
    token = _recorded_here.set(True)
    try:
        yield
    finally:
        _recorded_here.reset(token)


_pending = threading.local()


def record_role_changes(sender, instance, action, reverse, pk_set, using, **kwargs):
    """m2m_changed of User.groups: note each user's role before the change, and once the
    transaction commits, record the change if the role differs. One `groups.set()` (a remove
    and an add) is one record, not two."""
    if not action.startswith("pre_") or _recorded_here.get():
        return
    if not reverse:
        users = [instance.pk]
    elif pk_set is not None:
        users = list(pk_set)
    else:
        users = list(instance.user_set.values_list("pk", flat=True))
    # Django sends these signals inside the atomic block of add/remove/clear/set: its
    # outermost block is the transaction whose commit the record waits for.
    transaction_block = transaction.get_connection(using).atomic_blocks[0]
    waiting = _waiting()
    for user_pk in users:
        noted = waiting.get(user_pk)
        if noted is not None and noted[1] is transaction_block:
            continue  # already waiting for this transaction's commit
        # Who acts is known now (the request being served), not necessarily at the commit.
        waiting[user_pk] = (_role_by_pk(user_pk), transaction_block, acting_context())
        transaction.on_commit(lambda pk=user_pk: _record_after_commit(pk), using=using)


def _waiting() -> dict:
    """user pk -> (role before, the transaction it waits for, the actor), for this thread. An
    entry whose transaction rolled back is never popped; the next change replaces it."""
    if not hasattr(_pending, "roles"):
        _pending.roles = {}
    return _pending.roles


def _record_after_commit(user_pk: int) -> None:
    noted = _waiting().pop(user_pk, None)
    if noted is None:
        return
    before, _, context = noted
    user = get_user_model().objects.filter(pk=user_pk).first()
    if user is None:
        return
    after = role_of(user)
    if after == before:
        return
    audit_log(
        context,
        action=AuditAction.MEMBER_ROLE_CHANGED,
        changes={"role": [before, after]},
        details={**member_details(user), "via": "group membership"},
    )


def _role_by_pk(user_pk: int) -> str | None:
    names = set(Group.objects.filter(user__pk=user_pk).values_list("name", flat=True))
    return next((role for role in ROLES if role in names), None)


# --- checks ----------------------------------------------------------------------------------


def _check_may_manage(context: AuditContext) -> None:
    # None: a management command run by the operator, who may do anything.
    if context.user is not None and not context.user.has_perm(Ability.MANAGE_MEMBERS.permission):
        raise PermissionDenied(MEMBERS_REFUSED)


def _check_not_last_administrator(member) -> None:
    # Locks the Administrators' rows: two requests demoting the last two cannot both pass.
    others = list(
        active_administrators()
        .exclude(pk=member.pk)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    if not others:
        raise MemberChangeRefused(LAST_ADMINISTRATOR.format(name=_name(member)))


def _locked(member):
    return get_user_model().objects.select_for_update().get(pk=member.pk)


def _name(member) -> str:
    return member.get_full_name() or member.get_username()
