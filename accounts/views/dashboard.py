from django.shortcuts import render

from accounts.access import ability_required
from accounts.roles import Ability


@ability_required(Ability.VIEW_DASHBOARD)
def dashboard(request):
    return render(request, "accounts/dashboard.html")
