"""Ending sessions: one of your own, or every session of a member. Each is an audit record."""

from __future__ import annotations

from django.db import transaction

from accounts.models import AuditAction, PortalSession
from accounts.selectors.sessions import SessionRow, session_row
from accounts.services.audit import AuditContext, audit_log, member_details

SESSION_NOT_FOUND = "That session has already ended."


class SessionNotFound(Exception):
    pass


def session_end_own(*, context: AuditContext, session_id: str, current: str | None) -> SessionRow:
    """End one of the acting user's sessions (the current one logs them out)."""
    user = context.user
    with transaction.atomic():
        row = session_row(user, session_id, current=current)
        if row is None:
            raise SessionNotFound(SESSION_NOT_FOUND)
        PortalSession.objects.filter(user=user, session_key=session_id).delete()
        audit_log(
            context,
            action=AuditAction.AUTH_SESSION_ENDED,
            details={
                **member_details(user),
                "device": row.device,
                "session_ip": row.ip,
                "current": row.current,
            },
        )
    return row


def sessions_revoke_all(*, context: AuditContext, member) -> int:
    """End every session of `member` (an Administrator's action, or part of deactivating)."""
    with transaction.atomic():
        ended, _ = PortalSession.objects.filter(user=member).delete()
        audit_log(
            context,
            action=AuditAction.MEMBER_SESSIONS_REVOKED,
            details={**member_details(member), "sessions_ended": ended},
        )
    return ended
