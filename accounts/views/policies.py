"""The key policies page (/settings/policies/): everyone who may read them sees them;
Administrators change them."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import ability_required, refuse
from accounts.forms.policies import PolicyForm
from accounts.models import KeyPolicy
from accounts.roles import Ability
from accounts.services.audit import audit_context_from_request
from accounts.services.policies import policies_in_force, policies_update


@ability_required(Ability.VIEW_POLICIES)
@require_http_methods(["GET", "POST"])
def policies(request):
    may_change = request.user.has_perm(Ability.MANAGE_POLICIES.permission)
    if request.method == "POST" and not may_change:
        return refuse(request, Ability.MANAGE_POLICIES)
    policy = KeyPolicy.current()
    form = PolicyForm(request.POST or None, instance=policy, disabled=not may_change)
    if request.method == "POST" and form.is_valid():
        change = policies_update(context=audit_context_from_request(request), values=form.values())
        if change.changed:
            messages.success(request, f"Saved: {len(change.changed)} setting(s) changed.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("policies:edit")
    context = {"form": form, "may_change": may_change, "in_force": policies_in_force(policy)}
    return render(request, "policies/edit.html", context)
