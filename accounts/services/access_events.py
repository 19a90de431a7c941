"""Signing in, second factors and passwords, as audit records on the chain.

django-allauth, django-axes and Django's auth send signals for these events; the receivers
here turn each into one record. They never record a password, a code or a secret: a failed
login names only the username tried and where from.
"""

from __future__ import annotations

from allauth.account import signals as account_signals
from allauth.account.authentication import get_authentication_records
from allauth.mfa import signals as mfa_signals
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed

from accounts.models import AuditAction, AuditOutcome
from accounts.services.audit import (
    AuditContext,
    acting_context,
    audit_context_from_request,
    audit_log,
    member_details,
)
from accounts.services.sso import sso_login_completed

USERNAME_TRIED_MAX = 150


def connect() -> None:
    """Wire the receivers (AccountsConfig.ready)."""
    account_signals.user_logged_in.connect(_logged_in, dispatch_uid="audit.logged_in")
    account_signals.user_logged_in.connect(sso_login_completed, dispatch_uid="sso.roles")
    user_login_failed.connect(_login_failed, dispatch_uid="audit.login_failed")
    user_locked_out.connect(_locked_out, dispatch_uid="audit.locked_out")
    mfa_signals.authenticator_added.connect(_mfa_added, dispatch_uid="audit.mfa_added")
    mfa_signals.authenticator_removed.connect(_mfa_removed, dispatch_uid="audit.mfa_removed")
    mfa_signals.authentication_failed.connect(_mfa_failed, dispatch_uid="audit.mfa_failed")
    for signal, how in (
        (account_signals.password_changed, "changed"),
        (account_signals.password_set, "set"),
        (account_signals.password_reset, "reset by email"),
    ):
        signal.connect(_password_receiver(how), dispatch_uid=f"audit.password_{how}", weak=False)


def _context(request) -> AuditContext:
    return audit_context_from_request(request) if request is not None else acting_context()


def _logged_in(sender, request, user, sociallogin=None, **kwargs):
    # allauth's signal, not Django's: a test's client.force_login is not a login anyone made.
    context = _context(request)
    details = {**member_details(user)}
    if sociallogin is not None:
        details["provider"] = sociallogin.account.provider
        # The name people know the identity provider by ("Venice SSO"), for the audit log's
        # sentence: the provider's id ("sso") is a setting's code.
        details["provider_name"] = sociallogin.account.get_provider(request).name
        action = AuditAction.AUTH_SSO_LOGIN
    else:
        action = AuditAction.AUTH_LOGIN_SUCCEEDED
    factors = _factors_used(request, user)
    if factors:
        details["factors"] = factors
    audit_log(context, action=action, details=details)


def _factors_used(request, user) -> list[str]:
    """How this login was made, from allauth's records of it: "password", "totp",
    "webauthn", "recovery_codes", "socialaccount"."""
    if request is None or not hasattr(request, "session"):
        return []
    records = get_authentication_records(request, user)
    return sorted(
        {record.get("type") or record.get("method") for record in records} - {None, "mfa"}
    )


def _login_failed(sender, credentials, request=None, **kwargs):
    tried = credentials.get("username") or credentials.get("email") or ""
    audit_log(
        _context(request),
        action=AuditAction.AUTH_LOGIN_FAILED,
        details={"username_tried": str(tried)[:USERNAME_TRIED_MAX], "factor": "password"},
        outcome=AuditOutcome.FAILED,
        error="Wrong username or password, or the login is locked out.",
    )


def _locked_out(sender, request, username, ip_address, **kwargs):
    audit_log(
        _context(request),
        action=AuditAction.AUTH_LOCKED_OUT,
        details={"username_tried": str(username or "")[:USERNAME_TRIED_MAX]},
        outcome=AuditOutcome.FAILED,
        error="Too many failed logins: the login is locked for a while.",
    )


def _mfa_added(sender, request, user, authenticator, **kwargs):
    audit_log(
        _context(request),
        action=AuditAction.AUTH_MFA_ENROLLED,
        details={**member_details(user), "factor": authenticator.type},
    )


def _mfa_removed(sender, request, user, authenticator, **kwargs):
    audit_log(
        _context(request),
        action=AuditAction.AUTH_MFA_REMOVED,
        details={**member_details(user), "factor": authenticator.type},
    )


def _mfa_failed(sender, request, user, **kwargs):
    audit_log(
        _context(request),
        action=AuditAction.AUTH_LOGIN_FAILED,
        details={**member_details(user), "factor": "second factor"},
        outcome=AuditOutcome.FAILED,
        error="The second factor was not accepted.",
    )


def _password_receiver(how: str):
    def receiver(sender, request, user, **kwargs):
        audit_log(
            _context(request),
            action=AuditAction.AUTH_PASSWORD_CHANGED,
            details={**member_details(user), "how": how},
        )

    return receiver
