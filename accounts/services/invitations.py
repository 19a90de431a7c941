"""Invitations: an Administrator invites an email address to a role; the link makes a member.

The link carries a random token; the database keeps only its SHA-256. A link works once and
for INVITATION_LIFETIME; sending again makes a new token and the old link stops working.
The email goes through Django's email framework (EMAIL_* settings); if it cannot be sent,
the invitation stands, says why, and can be sent again. Every step is an audit record, and
none holds the token or the link.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, Invitation
from accounts.roles import ROLES, Ability, role_of
from accounts.services.audit import AuditContext, audit_log, member_details
from accounts.services.members import role_change_recorded_here

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(hours=72)
TOKEN_BYTES = 32

INVITATIONS_REFUSED = "Your role may not invite members."
ALREADY_A_MEMBER = "{email} is already a member: change their role on their page instead."
ALREADY_INVITED = (
    "{email} already has an open invitation: send it again from the list of invitations."
)
UNKNOWN_ROLE = "Choose one of the roles: {roles}."
LINK_UNKNOWN = "This invitation link is not valid: check that it was copied whole."
LINK_USED = "This invitation was already used. Log in with the account it made."
LINK_EXPIRED = (
    "This invitation expired on {expires:%Y-%m-%d %H:%M} UTC. Ask the Administrator who "
    "invited you ({invited_by}) to send it again."
)
LINK_REVOKED = "This invitation was withdrawn. Ask an Administrator for a new one."
NOT_OPEN = "This invitation is no longer open."
USERNAME_TAKEN = "That username is taken: choose another."
EMAIL_NOT_SENT = (
    "The invitation is saved, but its email could not be sent ({reason}). Check the portal's "
    "email settings, then send it again."
)


class InvitationError(Exception):
    """An invitation the rules refuse, or a link that cannot be used; `message` says why."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class SentInvitation:
    """An invitation and how its email went: `email_error` empty when it was sent. The link
    itself is in the email only, never in the result."""

    invitation: Invitation
    email_error: str = ""


def invitation_create(
    *, context: AuditContext, email: str, role: str, base_url: str
) -> SentInvitation:
    """Invite `email` to `role` and email the link. Raises InvitationError for a member's or
    an already invited address, or an unknown role; an email that fails is reported in the
    result (the invitation stands)."""
    _check_may_invite(context)
    email = email.strip()
    if role not in ROLES:
        raise InvitationError(UNKNOWN_ROLE.format(roles=", ".join(ROLES)), field="role")
    if get_user_model().objects.filter(email__iexact=email).exists():
        raise InvitationError(ALREADY_A_MEMBER.format(email=email), field="email")
    token = _new_token()
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                email=email,
                role=role,
                token_hash=_hash(token),
                invited_by=context.user,
                invited_by_username=context.username,
                created_at=now,
                expires_at=now + INVITATION_LIFETIME,
            )
            audit_log(
                context,
                action=AuditAction.MEMBER_INVITED,
                details={
                    "email": email,
                    "role": role,
                    "invitation": invitation.pk,
                    "expires_at": invitation.expires_at.isoformat(),
                },
            )
    except IntegrityError:
        raise InvitationError(ALREADY_INVITED.format(email=email), field="email") from None
    return _send(invitation, token, base_url=base_url)


def invitation_resend(
    *, context: AuditContext, invitation: Invitation, base_url: str
) -> SentInvitation:
    """A new link (the old one stops working), valid for INVITATION_LIFETIME from now."""
    _check_may_invite(context)
    if not invitation.is_open:
        raise InvitationError(NOT_OPEN)
    token = _new_token()
    with transaction.atomic():
        invitation.token_hash = _hash(token)
        invitation.expires_at = timezone.now() + INVITATION_LIFETIME
        invitation.save(update_fields=["token_hash", "expires_at"])
        audit_log(
            context,
            action=AuditAction.MEMBER_INVITATION_RESENT,
            details={
                "email": invitation.email,
                "role": invitation.role,
                "invitation": invitation.pk,
                "expires_at": invitation.expires_at.isoformat(),
            },
        )
    return _send(invitation, token, base_url=base_url)


def invitation_revoke(*, context: AuditContext, invitation: Invitation) -> None:
    _check_may_invite(context)
    if not invitation.is_open:
        raise InvitationError(NOT_OPEN)
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_log(
            context,
            action=AuditAction.MEMBER_INVITATION_REVOKED,
            details={
                "email": invitation.email,
                "role": invitation.role,
                "invitation": invitation.pk,
            },
        )


def invitation_for_token(token: str) -> Invitation:
    """The open invitation a link names; InvitationError says why a link cannot be used."""
    invitation = Invitation.objects.filter(token_hash=_hash(token)).first()
    return invitation_check_usable(invitation)


def invitation_check_usable(invitation: Invitation | None) -> Invitation:
    if invitation is None:
        raise InvitationError(LINK_UNKNOWN)
    if invitation.accepted_at:
        raise InvitationError(LINK_USED)
    if invitation.revoked_at:
        raise InvitationError(LINK_REVOKED)
    if invitation.expires_at <= timezone.now():
        raise InvitationError(
            LINK_EXPIRED.format(
                expires=invitation.expires_at,
                invited_by=invitation.invited_by_username or "an Administrator",
            )
        )
    return invitation


def invitation_accept(
    *,
    context: AuditContext,
    token: str,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    request=None,
):
    """Make the member the link invites: a user with the invited email and role, signed in
    when `request` is given. Raises InvitationError (the link, or a taken username) and
    django.core.exceptions.ValidationError (a password the validators refuse)."""
    User = get_user_model()
    with transaction.atomic():
        invitation = invitation_check_usable(
            Invitation.objects.select_for_update().filter(token_hash=_hash(token)).first()
        )
        if User.objects.filter(username__iexact=username).exists():
            raise InvitationError(USERNAME_TAKEN, field="username")
        user = User(
            username=username,
            email=invitation.email,
            first_name=first_name,
            last_name=last_name,
        )
        validate_password(password, user)
        user.set_password(password)
        user.save()
        _join(context, invitation, user, how="password")
    if request is not None:
        login(request, user, backend="accounts.auth.backends.PortalAuthenticationBackend")
    return user


def invitation_accept_for(*, context: AuditContext, invitation: Invitation, user) -> None:
    """Accept an invitation for a user who signed in another way (single sign-on): the
    invited role, unless their identity provider gave them one."""
    with transaction.atomic():
        invitation = invitation_check_usable(
            Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        )
        _join(context, invitation, user, how="single sign-on")


def invitation_hash(token: str) -> str:
    return _hash(token)


def _join(context: AuditContext, invitation: Invitation, user, *, how: str) -> None:
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    role = role_of(user) or invitation.role
    if role_of(user) is None:
        with role_change_recorded_here():
            user.groups.add(Group.objects.get(name=invitation.role))
    audit_log(
        context,
        action=AuditAction.MEMBER_JOINED,
        changes={"role": [None, role]},
        details={
            **member_details(user),
            "email": invitation.email,
            "invitation": invitation.pk,
            "invited_by": invitation.invited_by_username,
            "how": how,
        },
    )


def _send(invitation: Invitation, token: str, *, base_url: str) -> SentInvitation:
    link = base_url.rstrip("/") + reverse("team:join", args=[token])
    context = {
        "invitation": invitation,
        "link": link,
        "lifetime_hours": int(INVITATION_LIFETIME.total_seconds() // 3600),
    }
    subject = f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}You are invited to the Venice account portal"
    body = render_to_string("team/invitation_email.txt", context)
    error = ""
    try:
        send_mail(subject, body, None, [invitation.email])
    except (OSError, ValueError) as failure:  # smtplib's errors are OSErrors
        error = type(failure).__name__
        if str(failure) and token not in str(failure):
            error = f"{error}: {failure}"[:300]
        logger.warning("Invitation %s could not be emailed: %s", invitation.pk, error)
    invitation.send_count += 1
    invitation.sent_at = None if error else timezone.now()
    invitation.send_error = error
    invitation.save(update_fields=["send_count", "sent_at", "send_error"])
    return SentInvitation(invitation=invitation, email_error=error)


def _check_may_invite(context: AuditContext) -> None:
    if context.user is not None and not context.user.has_perm(Ability.MANAGE_MEMBERS.permission):
        raise PermissionDenied(INVITATIONS_REFUSED)


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
