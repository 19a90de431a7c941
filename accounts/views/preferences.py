"""/account/preferences/: each user's own settings (every role, and a user with none)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import PreferencesForm
from accounts.services.preferences import preferences_get, preferences_update

SAVED = "Saved. Times now show in {zone}."


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    current = preferences_get(user=request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            zone = form.cleaned_data["time_zone"]
            preferences_update(user=request.user, time_zone=zone)
            messages.success(request, SAVED.format(zone=zone))
            return redirect("account:preferences")
    else:
        form = PreferencesForm(initial={"time_zone": current.time_zone})
    return render(request, "account/preferences.html", {"form": form})
