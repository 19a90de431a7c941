"""A person's own account: what signs them in, and where they are signed in."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors.sessions import describe_duration, sessions_of
from accounts.services.audit import audit_context_from_request
from accounts.services.sessions import SESSION_NOT_FOUND, SessionNotFound, session_end_own


@login_required
@require_GET
def overview(request):
    kinds = set(Authenticator.objects.filter(user=request.user).values_list("type", flat=True))
    context = {
        "has_totp": Authenticator.Type.TOTP in kinds,
        "has_passkey": Authenticator.Type.WEBAUTHN in kinds,
        "has_password": request.user.has_usable_password(),
    }
    return render(request, "account/overview.html", context)


@login_required
@require_GET
def sessions(request):
    context = {
        "sessions": sessions_of(request.user, current=request.session.session_key),
        "idle_timeout": describe_duration(settings.PORTAL_SESSION_IDLE_TIMEOUT),
        "max_age": describe_duration(settings.PORTAL_SESSION_MAX_AGE),
    }
    return render(request, "account/sessions.html", context)


@login_required
@require_POST
def session_end(request, session_id: str):
    try:
        ended = session_end_own(
            context=audit_context_from_request(request),
            session_id=session_id,
            current=request.session.session_key,
        )
    except SessionNotFound:
        messages.error(request, SESSION_NOT_FOUND)
    else:
        messages.success(request, f"Ended the session on {ended.device}.")
    return redirect("account:sessions")
