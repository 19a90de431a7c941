"""Who an API request acts as: the member behind its token, with the token's role.

`Authorization: Bearer vpt_…`. The request's user becomes the token's member, limited to the
token's role for this request (accounts/auth/backends.py), so the services' own checks (the
second lock) see exactly what the token may do. Audit records name the token as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from ninja.security import HttpBearer
from ninja.throttling import SimpleRateThrottle

from accounts.api.errors import ApiError
from accounts.auth.backends import limit_to_role
from accounts.models import AccessToken
from accounts.roles import Ability
from accounts.services.audit import USER_AGENT_MAX, AuditContext, client_ip
from accounts.services.tokens import TokenRefused, token_authenticate, token_label


@dataclass(frozen=True)
class Caller:
    token: AccessToken

    def __str__(self) -> str:  # what the rate limit counts by
        return self.token.prefix


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str) -> Caller:
        try:
            access = token_authenticate(token)
        except TokenRefused as refused:
            raise ApiError(401, "unauthorized", refused.message) from None
        request.user = limit_to_role(access.user, access.role)
        return Caller(access)


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per token (PORTAL_API_RATE_LIMIT, e.g. "120/min"), counted in the cache: a
    runaway script gets 429s from the portal long before Venice's failed-request limit."""

    scope = "token"

    def __init__(self):
        super().__init__(settings.PORTAL_API_RATE_LIMIT)

    def allow_request(self, request) -> bool:
        # Read each time, so a changed setting (or a test's) applies without a restart.
        self.rate = settings.PORTAL_API_RATE_LIMIT
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)

    def get_cache_key(self, request) -> str | None:
        caller = getattr(request, "auth", None)
        if caller is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": str(caller)}


def caller_token(request) -> AccessToken:
    return request.auth.token


def require(request, ability: Ability) -> None:
    """403 unless the token's role has `ability`."""
    if not request.user.has_perm(ability.permission):
        token = caller_token(request)
        raise ApiError(
            403,
            "forbidden",
            f"A {token.role} token may not do this: it needs “{ability.label}”.",
        )


def audit_context(request) -> AuditContext:
    token = caller_token(request)
    return AuditContext(
        user=request.user,
        username=request.user.get_username(),
        role=token.role,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        request_id=getattr(request, "request_id", ""),
        token=token_label(token),
    )
