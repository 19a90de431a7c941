"""allauth's authentication backend, with one rule of the portal's: a request made with an
API token has its token's role's permissions, never more (see accounts/api/auth.py)."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend

from accounts.roles import ROLE_ABILITIES

# Set on the request's user object (never saved) by the API's token authentication.
TOKEN_ROLE = "portal_token_role"  # noqa: S105 - an attribute name, not a secret


class PortalAuthenticationBackend(AuthenticationBackend):
    def get_all_permissions(self, user_obj, obj=None):
        permissions = super().get_all_permissions(user_obj, obj=obj)
        role = getattr(user_obj, TOKEN_ROLE, None)
        if role is None:
            return permissions
        return permissions & {ability.permission for ability in ROLE_ABILITIES.get(role, ())}


def limit_to_role(user, role: str):
    """The user, acting with `role`'s permissions only, for this request (in memory: a token
    never carries the superuser flag, only its role)."""
    setattr(user, TOKEN_ROLE, role)
    user.is_superuser = False
    return user
