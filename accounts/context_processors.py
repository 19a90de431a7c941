from django.conf import settings

from accounts.navigation import nav_for
from accounts.roles import Ability, role_of


def portal(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "sandbox_mode": settings.VENICE_SANDBOX,
        # The login page's choices (templates/account/login.html).
        "sso_provider": (
            {"id": settings.SSO_PROVIDER_ID, "name": settings.PORTAL_OIDC_NAME}
            if settings.PORTAL_OIDC_ISSUER
            else None
        ),
        "sso_only": settings.PORTAL_SSO_ONLY,
        "nav_items": nav_for(request) if signed_in else [],
        "user_role": role_of(user) if signed_in else None,
        # The bell in the top bar (templates/base.html): one count query per page.
        "alerts_unread": _alerts_unread(user) if signed_in else None,
    }


def _alerts_unread(user) -> int | None:
    if not user.has_perm(Ability.VIEW_ALERTS.permission):
        return None
    from accounts.selectors.alerts import alert_unread_count

    return alert_unread_count(user)
