"""Adopting the account's existing keys into the audit baseline (from the audit page's drift
panel): POST /audit/adopt/, Administrators (Ability.ADOPT_KEYS)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.access import ability_required
from accounts.forms.teams import AdoptForm
from accounts.roles import Ability
from accounts.services.adoption import AdoptionRefused, keys_adopt
from accounts.services.audit import audit_context_from_request
from accounts.venice import VeniceError


@ability_required(Ability.ADOPT_KEYS)
@require_POST
def adopt(request):
    form = AdoptForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("patterns", []):
            messages.error(request, error)
        return redirect("audit:list")
    try:
        result = keys_adopt(
            context=audit_context_from_request(request), patterns=form.cleaned_data["patterns"]
        )
    except AdoptionRefused as refused:
        messages.info(request, refused.message)
    except VeniceError as error:
        messages.error(request, f"Venice's key list could not be read: {error.user_message}")
    else:
        teams = f"; {result.assigned} given a team by their description" if result.assigned else ""
        messages.success(
            request,
            f"Adopted {result.adopted} key{'s' if result.adopted != 1 else ''} into the audit "
            f"baseline{teams}. Keys changed outside the portal from now on are drift again.",
        )
    return redirect("audit:list")
