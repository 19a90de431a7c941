"""Audit sentences for who may do what: members, invitations, sign-ins and second factors,
key policies and the changes waiting for approval. accounts/presentation/audit.py joins these
to the key actions' wording in one WORDING."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from accounts.models import AuditAction, AuditEvent
from accounts.presentation import numbers
from accounts.presentation.audit_words import Wording, key_phrase, when

# What a sign-in was made with: "signed in with a password and a recovery code". The order
# is the order a sentence names them in.
FACTORS = {
    "password": "a password",
    "totp": "an authenticator app",
    "webauthn": "a passkey",
    "recovery_codes": "a recovery code",
    "socialaccount": "single sign-on",
    "second factor": "a second factor",
}
# The same factors as things a member has, added, removed or reset: recovery codes come as a
# set ("kim added recovery codes", not "a recovery code").
HELD_FACTORS = {**FACTORS, "recovery_codes": "recovery codes"}
PASSWORD_CHANGES = {
    "changed": "changed their password",
    "set": "set a password",
    "reset by email": "reset their password by email",
}
# Each key policy as a sentence names it, and what its value is (policies.POLICY_FIELDS): the
# field names are codes, and "recent use hours from 24 to 48" says little.
POLICIES = {
    "inference_max_expiry_days": ("the longest expiry of new INFERENCE keys", "days"),
    "inference_require_limit": ("requiring a limit on new INFERENCE keys", "switch"),
    "inference_limit_usd_max": (
        "the USD limit of a new INFERENCE key above which approval is needed",
        "USD",
    ),
    "inference_limit_diem_max": (
        "the DIEM limit of a new INFERENCE key above which approval is needed",
        "DIEM",
    ),
    "admin_keys_need_approval": ("approval for ADMIN keys", "switch"),
    "recent_use_hours": ("how long a key counts as in use after its last use", "hours"),
    "delete_in_use_needs_approval": ("approval to delete a key in use", "switch"),
    "rotate_now_in_use_needs_approval": (
        "approval to rotate a key in use without a grace period",
        "switch",
    ),
    "limit_raise_usd_threshold": ("the USD limit above which a raise needs approval", "USD"),
    "limit_raise_diem_threshold": ("the DIEM limit above which a raise needs approval", "DIEM"),
    "removing_limit_or_expiry_needs_approval": (
        "approval to remove a key's limit or expiry",
        "switch",
    ),
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


def _factor(value, names: dict[str, str] = FACTORS) -> str:
    return names.get(value or "", value or "a second factor")


def _factors(values, names: dict[str, str] = FACTORS) -> str:
    """ "an authenticator app and recovery codes", in FACTORS' order whatever the record's."""
    order = list(names)
    ranked = sorted(values or [], key=lambda v: order.index(v) if v in order else len(order))
    return " and ".join(_factor(value, names) for value in ranked)


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
    """The whole sentence: "bea joined as Key manager, invited by ada". Joining with a
    password happens signed out, so the record has no actor; the member is in its details."""
    details = _details(event)
    who = details.get("member") or event.actor_username or "Someone"
    how = " with single sign-on" if details.get("how") == "single sign-on" else ""
    role = ((event.changes or {}).get("role") or [None, None])[-1]
    text = f"{who} joined{how} as {_role(role)}"
    if details.get("invited_by"):
        text += f", invited by {details['invited_by']}"
    return text


def _role_changed(event: AuditEvent) -> str:
    before, after = ((event.changes or {}).get("role") or [None, None])[:2]
    return f"{_member(event)}'s role from {_role(before)} to {_role(after)}"


def _mfa_reset(event: AuditEvent) -> str:
    removed = _factors(_details(event).get("removed"), HELD_FACTORS)
    return f"{_member(event)}'s two-factor authentication" + (
        f" (removed {removed})" if removed else ""
    )


def _sessions_revoked(event: AuditEvent) -> str:
    ended = _details(event).get("sessions_ended")
    if ended is None:
        count = ""
    elif ended == 0:
        count = " (no session was open)"  # deactivating someone signed in nowhere
    else:
        count = f" ({ended} session{'s' if ended != 1 else ''} ended)"
    return f"{_member(event)} out everywhere{count}"


def _signed_in(event: AuditEvent) -> str:
    factors = _factors(_details(event).get("factors"))
    return f"with {factors}" if factors else ""


def _sso(event: AuditEvent) -> str:
    # The provider's name ("Venice SSO"); its id ("sso", in older records the only one) is a
    # setting's code that tells a reader nothing.
    name = _details(event).get("provider_name")
    return f"with single sign-on ({name})" if name else "with single sign-on"


def _login_failed(event: AuditEvent) -> str:
    details = _details(event)
    who = details.get("member") or details.get("username_tried") or "an unknown name"
    if details.get("factor") == "second factor":
        return f"A sign-in as {who} failed: the second factor was not accepted"
    return f"A sign-in as “{who}” failed: wrong username or password"


def _locked_out(event: AuditEvent) -> str:
    # Past tense: the lockout lasts a cool-off period, and the log is read long after.
    tried = _details(event).get("username_tried") or "an unknown name"
    return f"Sign-ins as “{tried}” were locked out for a while after too many failures"


def _factor_of(event: AuditEvent) -> str:
    details = _details(event)
    text = _factor(details.get("factor"), HELD_FACTORS)
    if details.get("member") and details.get("member") != event.actor_username:
        text += f" for {details['member']}"
    return text


def _password(event: AuditEvent) -> str:
    """The whole sentence: "aud reset their password by email". A reset by email is made
    signed out, so the record has no actor; whose password it is is in its details."""
    details = _details(event)
    who = details.get("member") or event.actor_username or "Someone"
    how = details.get("how") or "changed"
    return f"{who} {PASSWORD_CHANGES.get(how, f'changed their password ({how})')}"


def _session_ended(event: AuditEvent) -> str:
    """ "their session on Safari on iPhone from 198.51.100.9"."""
    details = _details(event)
    own = details.get("member") in (None, event.actor_username)
    text = ("their" if own else f"{details['member']}'s") + (
        " current session" if details.get("current") else " session"
    )
    if details.get("device"):
        text += f" on {details['device']}"
    if details.get("session_ip"):
        text += f" from {details['session_ip']}"
    return text


def _policies(event: AuditEvent) -> str:
    changes = []
    for field, values in sorted((event.changes or {}).items()):
        before, after = (list(values) + [None, None])[:2]
        label, kind = POLICIES.get(field, (field.replace("_", " "), ""))
        before, after = _policy_value(before, kind), _policy_value(after, kind)
        # The comma keeps "… in use after its last use, from 24 hours to 48 hours" one reading.
        changes.append(f"{label}, from {before} to {after}")
    return "the key policies" + (f": {'; '.join(changes)}" if changes else "")


def _policy_value(value, kind: str = "") -> str:
    """A policy's value as a sentence says it: "on", "48 hours", "$500.00", "no rule"."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    if value in (None, ""):
        return "no rule" if kind in ("days", "hours", "USD", "DIEM") else "none"
    if kind in ("days", "hours"):
        return f"{value} {kind[:-1] if str(value) == '1' else kind}"
    if kind in ("USD", "DIEM"):
        try:
            return numbers.money(Decimal(str(value)), kind)
        except InvalidOperation:
            return str(value)
    return str(value)


def _change(event: AuditEvent) -> str:
    """The change a request is about: "delete “Old laptop” …Ol9876"; a key to create has its
    last 6 once it is made."""
    verb = REQUESTED_CHANGES.get(_details(event).get("request_action") or "", "change")
    if verb == "create":
        return f"create the key {key_phrase(event)}"
    return f"{verb} {key_phrase(event)}"


def _request_of(event: AuditEvent, kind: str = "request") -> str:
    requester = _details(event).get("requested_by") or "someone"
    whose = "their" if requester == event.actor_username else f"{requester}'s"
    return f"{whose} {kind} to {_change(event)}"


def _decided(event: AuditEvent) -> str:
    """ "kim's request to delete “X” …abc123 (“Still in use”)": the approver's comment is
    what the requester reads of a rejection."""
    comment = _details(event).get("comment")
    return _request_of(event) + (f" (“{comment}”)" if comment else "")


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
    """ "kim's approved request to delete “X” …abc123": the approver makes an update or a
    delete (then naming them again says nothing), the requester a create or a rotation."""
    approver = _details(event).get("decided_by")
    by = f" (approved by {approver})" if approver and approver != event.actor_username else ""
    return _request_of(event, "approved request") + by


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
    AuditAction.MEMBER_JOINED: Wording("Member joined", "", "", _joined, standalone=True),
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
    AuditAction.AUTH_PASSWORD_CHANGED: Wording(
        "Password changed", "", "", _password, standalone=True
    ),
    AuditAction.AUTH_SESSION_ENDED: Wording("Session ended", "ended", "end", _session_ended),
    AuditAction.POLICY_CHANGED: Wording("Key policies changed", "changed", "change", _policies),
    AuditAction.CHANGE_REQUESTED: Wording("Change requested", "asked to", "ask to", _requested),
    AuditAction.CHANGE_APPROVED: Wording("Change approved", "approved", "approve", _decided),
    AuditAction.CHANGE_REJECTED: Wording("Change rejected", "rejected", "reject", _decided),
    AuditAction.CHANGE_WITHDRAWN: Wording(
        "Change request withdrawn", "withdrew", "withdraw", _request_of
    ),
    AuditAction.CHANGE_EXPIRED: Wording(
        "Change request expired", "", "", _expired, standalone=True
    ),
    AuditAction.CHANGE_EXECUTED: Wording(
        "Approved change made", "carried out", "carry out", _executed
    ),
    # Written failed: "ada tried to carry out kim's approved request to …, and it failed".
    AuditAction.CHANGE_FAILED: Wording(
        "Approved change failed", "carried out", "carry out", _executed
    ),
}
