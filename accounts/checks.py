"""System checks (manage.py check) for settings whose mistakes would otherwise show late."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from accounts.roles import ROLES


@register()
def access_settings(app_configs, **kwargs):
    errors = []
    unknown = [role for role in settings.PORTAL_REQUIRE_MFA if role not in ROLES]
    if unknown:
        errors.append(
            Error(
                f"PORTAL_REQUIRE_MFA names roles that do not exist: {', '.join(unknown)}",
                hint=f"Use some of: {', '.join(ROLES)} (comma-separated), or leave it empty.",
                id="accounts.E001",
            )
        )
    try:
        from accounts.services.sso import role_map

        role_map()
    except ImproperlyConfigured as problem:
        errors.append(Error(str(problem), id="accounts.E002"))
    return errors
