"""A member's personal access tokens for the portal API: make one (shown once), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms.tokens import TokenCreateForm
from accounts.models import AccessToken
from accounts.services.audit import audit_context_from_request
from accounts.services.tokens import (
    TokenError,
    roles_a_token_may_have,
    token_create,
    token_revoke,
    tokens_of,
)


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_variables("new")
def tokens(request):
    roles = roles_a_token_may_have(request.user)
    form = TokenCreateForm(request.POST or None, roles=roles)
    new = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = token_create(
                context=audit_context_from_request(request),
                name=data["name"],
                role=data["role"],
                expires_at=data["expires_at"],
            )
        except TokenError as refused:
            form.add_error(refused.field if refused.field in form.fields else None, refused.message)
        else:
            form = TokenCreateForm(roles=roles)
    context = {"form": form, "tokens": tokens_of(request.user), "new": new, "roles": roles}
    return render(request, "account/tokens.html", context)


@login_required
@require_POST
def token_revoke_view(request, token_id: int):
    token = AccessToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token of yours.")
    try:
        token_revoke(context=audit_context_from_request(request), token=token)
    except TokenError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Revoked “{token.name}”: it no longer works.")
    return redirect("account:tokens")
