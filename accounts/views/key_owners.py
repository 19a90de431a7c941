"""A key's team and owner: on the key's own page (/keys/<id>/owner/), and for several keys at
once from the key list (/keys/assign/). The service (services/key_ownership.py) checks the
role and a scoped Key manager's teams again, and writes one audit record per key changed."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import ability_required, refuse
from accounts.forms.teams import BulkAssignForm, KeyAssignForm
from accounts.roles import Ability
from accounts.selectors.keys import api_key_get, api_key_list_all
from accounts.services.audit import audit_context_from_request
from accounts.services.key_ownership import (
    KeyScopeRefused,
    key_assign,
    keys_assign_bulk,
    ownership_of,
    scope_refusal,
)
from accounts.venice import VeniceError


@ability_required(Ability.ASSIGN_KEYS)
@require_http_methods(["GET", "POST"])
def key_owner(request, key_id: str):
    try:
        key = api_key_get(key_id=key_id)
    except VeniceError as error:
        return render(request, "keys/unavailable.html", {"error": error}, status=503)
    if key is None:
        return render(request, "keys/not_found.html", {"key_id": key_id}, status=404)
    if reason := scope_refusal(request.user, key.id, key.description):
        return refuse(request, Ability.ASSIGN_KEYS, reason=reason)
    form = KeyAssignForm(
        request.POST if request.method == "POST" else None,
        user=request.user,
        ownership=ownership_of(key.id),
    )
    if request.method == "POST" and form.is_valid():
        try:
            changed = key_assign(
                context=audit_context_from_request(request),
                key_id=key.id,
                description=key.description,
                last6=key.last6,
                assignment=form.assignment(),
            )
        except KeyScopeRefused as refused:
            form.add_error("team", refused.message)
        else:
            messages.success(
                request, "Saved the key's team and owner." if changed else "Nothing changed."
            )
            return redirect("keys:detail", key.id)
    return render(request, "keys/owner.html", {"key": key, "form": form})


@ability_required(Ability.ASSIGN_KEYS)
@require_POST
def keys_assign(request):
    """The key list's "Assign" button: the ticked keys get the chosen team and owner."""
    back = request.POST.get("next") or reverse("keys:list")
    if not back.startswith(reverse("keys:list")):
        back = reverse("keys:list")
    try:
        keys = {key.id: key for key in api_key_list_all()}
    except VeniceError as error:
        return render(request, "keys/unavailable.html", {"error": error}, status=503)
    choices = [(key.id, key.description) for key in keys.values()]
    form = BulkAssignForm(request.POST, user=request.user, key_choices=choices)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    chosen = [keys[key_id] for key_id in form.cleaned_data["keys"]]
    try:
        changed = keys_assign_bulk(
            context=audit_context_from_request(request), keys=chosen, assignment=form.assignment()
        )
    except KeyScopeRefused as refused:
        return refuse(request, Ability.ASSIGN_KEYS, reason=refused.message)
    team = form.assignment().team
    where = f"to {team.name}" if team else "to no team"
    messages.success(
        request,
        f"Assigned {len(chosen)} key{'s' if len(chosen) != 1 else ''} {where} ({changed} changed).",
    )
    return redirect(back)
