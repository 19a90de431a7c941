"""Audit sentences for who may do what: members, invitations, sign-ins and second factors,
key policies and the changes waiting for approval. accounts/presentation/audit.py joins these
to the key actions' wording in one WORDING."""

from __future__ import annotations

from accounts.models import AuditAction, AuditEvent
from accounts.presentation.audit_words import Wording, key_phrase, when

FACTORS = {
    "password": "a password",
    "totp": "an authenticator app",
    "webauthn": "a passkey",
    "recovery_codes": "a recovery code",
    "socialaccount": "single sign-on",
    "second factor": "a second factor",
}
REQUESTED_CHANGES = {
    "create": "create",
    "update": "change",
    "delete": "delete",
    "rotate": "rotate",
}


def _details(event: AuditEvent) -> dict:
    return event.details or {}


def _member(event: AuditEvent) -> str:
    return _details(event).get("member") or "a member"


def _role(value) -> str:
    return value or "no role"


def _factor(value) -> str:
    return FACTORS.get(value or "", value or "a second factor")


def _factors(values) -> str:
    return " and ".join(_factor(value) for value in values or [])


def _invited(event: AuditEvent) -> str:
    details = _details(event)
    text = f"{details.get('email') or 'someone'} as {_role(details.get('role'))}"
    if details.get("expires_at"):
        text += f" (the link works until {when(details['expires_at'])})"
    return text


def _invitation_revoked(event: AuditEvent) -> str:
    details = _details(event)
    return f"the invitation of {details.get('email') or 'someone'} as {_role(details.get('role'))}"


def _joined(event: AuditEvent) -> str:
    details = _details(event)
    role = ((event.changes or {}).get("role") or [None, None])[-1]
    text = f"as {_role(role)}"
    if details.get("invited_by"):
        text += f", invited by {details['invited_by']}"
    return text


def _role_changed(event: AuditEvent) -> str:
    before, after = ((event.changes or {}).get("role") or [None, None])[:2]
    return f"{_member(event)}'s role from {_role(before)} to {_role(after)}"


def _mfa_reset(event: AuditEvent) -> str:
    removed = _factors(_details(event).get("removed"))
    return f"{_member(event)}'s two-factor authentication" + (
        f" (removed {removed})" if removed else ""
    )


def _sessions_revoked(event: AuditEvent) -> str:
    ended = _details(event).get("sessions_ended")
    count = f" ({ended} session{'s' if ended != 1 else ''} ended)" if ended is not None else ""
    return f"{_member(event)} out everywhere{count}"


def _signed_in(event: AuditEvent) -> str:
    factors = _factors(_details(event).get("factors"))
    return f"with {factors}" if factors else ""


def _sso(event: AuditEvent) -> str:
    provider = _details(event).get("provider")
    return f"with single sign-on ({provider})" if provider else "with single sign-on"


def _login_failed(event: AuditEvent) -> str:
    details = _details(event)
    who = details.get("member") or details.get("username_tried") or "an unknown name"
    if details.get("factor") == "second factor":
        return f"A sign-in as {who} failed: the second factor was not accepted"
    return f"A sign-in as “{who}” failed: wrong username or password"


def _locked_out(event: AuditEvent) -> str:
    tried = _details(event).get("username_tried") or "an unknown name"
    return f"Sign-ins as “{tried}” are locked out for a while after too many failures"


def _factor_of(event: AuditEvent) -> str:
    details = _details(event)
    text = _factor(details.get("factor"))
    if details.get("member") and details.get("member") != event.actor_username:
        text += f" for {details['member']}"
    return text


def _password(event: AuditEvent) -> str:
    how = _details(event).get("how")
    return "their password" + (f" ({how})" if how and how != "changed" else "")


def _session_ended(event: AuditEvent) -> str:
    details = _details(event)
    where = ", ".join(
        str(part) for part in (details.get("device"), details.get("session_ip")) if part
    )
    whose = (
        "their own session"
        if details.get("member") in (None, event.actor_username)
        else f"{details['member']}'s session"
    )
    return whose + (f" on {where}" if where else "")


def _policies(event: AuditEvent) -> str:
    changes = []
    for field, values in sorted((event.changes or {}).items()):
        before, after = (list(values) + [None, None])[:2]
        label = field.replace("_", " ")
        changes.append(f"{label} from {_policy_value(before)} to {_policy_value(after)}")
    return "the key policies" + (f": {'; '.join(changes)}" if changes else "")


def _policy_value(value) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    return "none" if value in (None, "") else str(value)


def _change(event: AuditEvent) -> str:
    """The change a request is about: "delete “Old laptop” …Ol9876"."""
    verb = REQUESTED_CHANGES.get(_details(event).get("request_action") or "", "change")
    if verb == "create":
        return f"create the key “{event.key_description}”"
    return f"{verb} {key_phrase(event)}"


def _request_of(event: AuditEvent) -> str:
    requester = _details(event).get("requested_by") or "someone"
    whose = "their" if requester == event.actor_username else f"{requester}'s"
    return f"{whose} request to {_change(event)}"


def _requested(event: AuditEvent) -> str:
    reason = _details(event).get("reason")
    return (
        f"{_change(event)}"
        + (f" (“{reason}”)" if reason else "")
        + (", which waits for a second Administrator")
    )


def _expired(event: AuditEvent) -> str:
    requester = _details(event).get("requested_by") or "Someone"
    return f"{requester}'s request to {_change(event)} expired without a decision"


def _executed(event: AuditEvent) -> str:
    details = _details(event)
    approver = details.get("decided_by")
    return f"the approved change: {_change(event)}" + (
        f" (approved by {approver})" if approver else ""
    )


def _token(event: AuditEvent) -> str:
    details = _details(event)
    text = f"the API token “{details.get('name') or '?'}” (vpt_{details.get('prefix') or '?'}…)"
    if event.action == AuditAction.TOKEN_CREATED:
        text += f" as {_role(details.get('role'))}, until {when(details.get('expires_at'))}"
    return text


ACCESS_WORDING: dict[str, Wording] = {
    AuditAction.TOKEN_CREATED: Wording("API token created", "created", "create", _token),
    AuditAction.TOKEN_REVOKED: Wording("API token revoked", "revoked", "revoke", _token),
    AuditAction.MEMBER_INVITED: Wording("Member invited", "invited", "invite", _invited),
    AuditAction.MEMBER_INVITATION_RESENT: Wording(
        "Invitation sent again", "sent a new invitation to", "send a new invitation to", _invited
    ),
    AuditAction.MEMBER_INVITATION_REVOKED: Wording(
        "Invitation revoked", "revoked", "revoke", _invitation_revoked
    ),
    AuditAction.MEMBER_JOINED: Wording("Member joined", "joined", "join", _joined),
    AuditAction.MEMBER_ROLE_CHANGED: Wording(
        "Member's role changed", "changed", "change", _role_changed
    ),
    AuditAction.MEMBER_DEACTIVATED: Wording(
        "Member deactivated", "deactivated", "deactivate", _member
    ),
    AuditAction.MEMBER_REACTIVATED: Wording(
        "Member reactivated", "reactivated", "reactivate", _member
    ),
    AuditAction.MEMBER_MFA_RESET: Wording(
        "Member's two-factor authentication reset", "reset", "reset", _mfa_reset
    ),
    AuditAction.MEMBER_SESSIONS_REVOKED: Wording(
        "Member signed out everywhere", "signed", "sign", _sessions_revoked
    ),
    AuditAction.AUTH_LOGIN_SUCCEEDED: Wording("Signed in", "signed in", "sign in", _signed_in),
    AuditAction.AUTH_LOGIN_FAILED: Wording(
        "Sign-in failed", "", "", _login_failed, standalone=True
    ),
    AuditAction.AUTH_LOCKED_OUT: Wording(
        "Sign-ins locked out", "", "", _locked_out, standalone=True
    ),
    AuditAction.AUTH_SSO_LOGIN: Wording(
        "Signed in with single sign-on", "signed in", "sign in", _sso
    ),
    AuditAction.AUTH_MFA_ENROLLED: Wording("Second factor added", "added", "add", _factor_of),
    AuditAction.AUTH_MFA_REMOVED: Wording("Second factor removed", "removed", "remove", _factor_of),
    AuditAction.AUTH_PASSWORD_CHANGED: Wording("Password changed", "changed", "change", _password),
    AuditAction.AUTH_SESSION_ENDED: Wording("Session ended", "ended", "end", _session_ended),
    AuditAction.POLICY_CHANGED: Wording("Key policies changed", "changed", "change", _policies),
    AuditAction.CHANGE_REQUESTED: Wording("Change requested", "asked to", "ask to", _requested),
    AuditAction.CHANGE_APPROVED: Wording("Change approved", "approved", "approve", _request_of),
    AuditAction.CHANGE_REJECTED: Wording("Change rejected", "rejected", "reject", _request_of),
    AuditAction.CHANGE_WITHDRAWN: Wording(
        "Change request withdrawn", "withdrew", "withdraw", _request_of
    ),
    AuditAction.CHANGE_EXPIRED: Wording(
        "Change request expired", "", "", _expired, standalone=True
    ),
    AuditAction.CHANGE_EXECUTED: Wording("Approved change made", "made", "make", _executed),
    AuditAction.CHANGE_FAILED: Wording("Approved change failed", "made", "make", _executed),
}
