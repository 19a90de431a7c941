"""The portal's django-allauth adapters: where allauth asks the project what to do."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.conf import settings

from accounts import crypto

SSO_ONLY_REFUSAL = (
    "Password login is turned off: sign in with {name}. (Only the break-glass account may use a "
    "password.)"
)


class PortalAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Nobody signs up: Administrators invite members (/team/invite/)."""
        return False

    def pre_authenticate(self, request, **credentials):
        """With PORTAL_SSO_ONLY, a password signs in the break-glass account only."""
        if settings.PORTAL_SSO_ONLY:
            tried = credentials.get("username") or credentials.get("email") or ""
            if not settings.PORTAL_SSO_BREAK_GLASS or tried != settings.PORTAL_SSO_BREAK_GLASS:
                raise forms.ValidationError(SSO_ONLY_REFUSAL.format(name=settings.PORTAL_OIDC_NAME))
        super().pre_authenticate(request, **credentials)


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        """A person the company's identity provider signs in becomes a member (with the role
        its groups map to, or none: accounts/services/sso.py)."""
        return bool(settings.PORTAL_OIDC_ISSUER)


class PortalMFAAdapter(DefaultMFAAdapter):
    """TOTP and recovery-code seeds are encrypted in the database (accounts/crypto.py)."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)
