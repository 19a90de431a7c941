from django.conf import settings

from accounts.navigation import nav_for
from accounts.roles import role_of


def portal(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "sandbox_mode": settings.VENICE_SANDBOX,
        "nav_items": nav_for(request) if signed_in else [],
        "user_role": role_of(user) if signed_in else None,
    }
