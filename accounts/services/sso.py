"""Single sign-on: the identity provider's groups decide a member's role at each login.

PORTAL_OIDC_ROLE_MAP ("venice-admins:Administrator,venice-finance:Finance") maps values of the
PORTAL_OIDC_ROLE_CLAIM claim (a list, usually "groups") to roles. With a map, the IdP is the
source of truth for its members: at each login the role becomes the highest role any of their
groups maps to, or none (then the portal says so instead of showing an empty page). Without a
map, SSO members keep the role an Administrator gives them. An invitation opened before
signing in with SSO is accepted for the account the IdP signed in.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accounts.models import Invitation
from accounts.roles import ROLES, role_of
from accounts.services.audit import AuditContext, audit_context_from_request
from accounts.services.invitations import InvitationError, invitation_accept_for
from accounts.services.members import member_role_change

logger = logging.getLogger(__name__)

# The session key the join page sets (accounts/views/team.py).
PENDING_INVITATION = "portal_invitation"


def role_map() -> dict[str, str]:
    """PORTAL_OIDC_ROLE_MAP as {group: role}; a role that does not exist is a setup error."""
    mapping = {}
    for pair in settings.PORTAL_OIDC_ROLE_MAP.split(","):
        if not pair.strip():
            continue
        group, _, role = pair.rpartition(":")
        group, role = group.strip(), role.strip()
        if not group or role not in ROLES:
            raise ImproperlyConfigured(
                f"PORTAL_OIDC_ROLE_MAP: {pair.strip()!r} is not 'group:Role' with a Role among "
                f"{', '.join(ROLES)}"
            )
        mapping[group] = role
    return mapping


def role_from_claims(claims: dict) -> str | None:
    """The highest role (in roles.py's order) any of the claim's values maps to."""
    values = claims.get(settings.PORTAL_OIDC_ROLE_CLAIM) or []
    if isinstance(values, str):
        values = [values]
    mapped = {role_map().get(str(value)) for value in values} - {None}
    return next((role for role in ROLES if role in mapped), None)


def claims_of(sociallogin) -> dict:
    """The IdP's claims about the person: its userinfo answer, else the ID token's."""
    extra = sociallogin.account.extra_data or {}
    return extra.get("userinfo") or extra.get("id_token") or extra


def sso_login_completed(sender, request, user, sociallogin=None, **kwargs) -> None:
    """allauth's user_logged_in: accept a pending invitation, then follow the IdP's groups."""
    if sociallogin is None:
        return
    _accept_pending_invitation(request, user)
    if not settings.PORTAL_OIDC_ROLE_MAP:
        return
    role = role_from_claims(claims_of(sociallogin))
    if role == role_of(user):
        return
    member_role_change(context=_idp_context(request, sociallogin), member=user, role=role)


def _accept_pending_invitation(request, user) -> None:
    token_hash = request.session.pop(PENDING_INVITATION, None)
    if not token_hash:
        return
    invitation = Invitation.objects.filter(token_hash=token_hash).first()
    if invitation is None or invitation.email.lower() != (user.email or "").lower():
        logger.info("An SSO login did not match the invitation it started from")
        return
    try:
        invitation_accept_for(
            context=audit_context_from_request(request), invitation=invitation, user=user
        )
    except InvitationError as unusable:
        logger.info("An SSO login's invitation could not be used: %s", unusable.message)


def _idp_context(request, sociallogin) -> AuditContext:
    """Role changes the IdP's groups make are the IdP's: the record names it as the actor."""
    from_request = audit_context_from_request(request)
    return AuditContext(
        user=None,
        username=f"{settings.PORTAL_OIDC_NAME} (identity provider)",
        role="",
        ip=from_request.ip,
        user_agent=from_request.user_agent,
        request_id=from_request.request_id,
    )
