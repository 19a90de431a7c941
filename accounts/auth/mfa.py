"""Who must have a second factor (PORTAL_REQUIRE_MFA), and who has one."""

from allauth.mfa.models import Authenticator
from django.conf import settings

from accounts.roles import role_of

# Recovery codes back up a factor; they are not one.
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_required_for(user) -> bool:
    return role_of(user) in settings.PORTAL_REQUIRE_MFA


def has_second_factor(user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()
