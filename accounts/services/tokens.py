"""Personal access tokens: a member's credential for the portal API.

A token reads `vpt_<prefix>_<secret>`. The prefix finds its row; the SHA-256 of the whole
token is what is compared (in constant time), so the database never holds a usable token, as
with GitHub's and healthchecks' tokens. A token acts as its member with the token's role,
which must be one the member's own role covers; it stops working when revoked, expired, when
the member is deactivated, or when the member no longer holds a role that covers it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import AccessToken, AuditAction
from accounts.roles import ROLE_ABILITIES, ROLES, role_of
from accounts.services.audit import AuditContext, audit_log

TOKEN_PREFIX = "vpt"  # noqa: S105 - how every token begins, not a secret
LONGEST_LIFETIME = timedelta(days=366)
# last_used_at is written at most this often, so a busy script costs no write per call.
TOUCH_EVERY = timedelta(minutes=1)

NAME_REQUIRED = "Give the token a name: what or who uses it."
EXPIRY_REQUIRED = "Choose when the token expires (at most a year from now)."
EXPIRY_IN_PAST = "The expiry must be in the future."
EXPIRY_TOO_FAR = "A token lives at most a year: choose an earlier expiry."
ROLE_TOO_HIGH = "A token's role cannot be more than your own ({role})."
NO_ROLE = "You have no role, so a token could do nothing."
ALREADY_REVOKED = "This token was already revoked."
NOT_YOURS = "This is not your token."

# Why a token was not accepted (the API says so in its 401).
UNKNOWN = "The token is not valid."
EXPIRED = "The token has expired; create a new one at /account/tokens/."
REVOKED = "The token was revoked."
MEMBER_INACTIVE = "The token's member is deactivated."
ROLE_GONE = "The token's role is no longer covered by its member's role."


class TokenError(Exception):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class TokenRefused(Exception):
    """A request's token is not accepted; `message` says why (never echoing the token)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NewToken:
    token: AccessToken
    secret: str  # the whole token, shown once


def roles_a_token_may_have(user) -> list[str]:
    """The roles whose abilities the user's own role covers (their own role included)."""
    own = role_of(user)
    if own is None:
        return []
    return [role for role in ROLES if ROLE_ABILITIES[role] <= ROLE_ABILITIES[own]]


def token_create(
    *, context: AuditContext, name: str, role: str, expires_at: datetime | None
) -> NewToken:
    user = context.user
    name = (name or "").strip()
    if not name:
        raise TokenError(NAME_REQUIRED, field="name")
    _check_expiry(expires_at)
    allowed = roles_a_token_may_have(user)
    if not allowed:
        raise TokenError(NO_ROLE, field="role")
    if role not in allowed:
        raise TokenError(ROLE_TOO_HIGH.format(role=role_of(user)), field="role")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=user,
            name=name[:64],
            prefix=prefix,
            token_hash=_hash(secret),
            role=role,
            expires_at=expires_at,
        )
        audit_log(
            context,
            action=AuditAction.TOKEN_CREATED,
            details=_details(token),
        )
    return NewToken(token=token, secret=secret)


def token_revoke(*, context: AuditContext, token: AccessToken) -> None:
    """A member revokes their own token (an Administrator deactivating a member stops every
    token of theirs without this)."""
    if token.user_id != getattr(context.user, "pk", None):
        raise TokenError(NOT_YOURS)
    with transaction.atomic():
        locked = AccessToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is not None:
            raise TokenError(ALREADY_REVOKED)
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_log(context, action=AuditAction.TOKEN_REVOKED, details=_details(locked))
    token.revoked_at = locked.revoked_at


def token_authenticate(secret: str) -> AccessToken:
    """The token a request presents, with its member; TokenRefused says why not."""
    parts = (secret or "").split("_", 2)  # the secret part may hold "_" itself
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenRefused(UNKNOWN)
    token = AccessToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.token_hash, _hash(secret)):
        raise TokenRefused(UNKNOWN)
    if token.revoked_at is not None:
        raise TokenRefused(REVOKED)
    if token.is_expired:
        raise TokenRefused(EXPIRED)
    if not token.user.is_active:
        raise TokenRefused(MEMBER_INACTIVE)
    if token.role not in roles_a_token_may_have(token.user):
        raise TokenRefused(ROLE_GONE)
    _touch(token)
    return token


def tokens_of(user) -> list[AccessToken]:
    return list(AccessToken.objects.filter(user=user))


def token_label(token: AccessToken) -> dict:
    """How audit records name the token a change was made with."""
    return {"name": token.name, "prefix": token.prefix}


def _touch(token: AccessToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        raise TokenError(EXPIRY_REQUIRED, field="expires_at")
    now = timezone.now()
    if expires_at <= now:
        raise TokenError(EXPIRY_IN_PAST, field="expires_at")
    if expires_at > now + LONGEST_LIFETIME:
        raise TokenError(EXPIRY_TOO_FAR, field="expires_at")


def _details(token: AccessToken) -> dict:
    return {
        **token_label(token),
        "role": token.role,
        "expires_at": token.expires_at.isoformat(),
    }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
