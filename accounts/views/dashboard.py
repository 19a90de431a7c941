from django.shortcuts import render

from accounts.access import ability_required
from accounts.roles import Ability
from accounts.services.dashboard import dashboard_build


@ability_required(Ability.VIEW_DASHBOARD)
def dashboard(request):
    """Every role sees the dashboard; each panel shows only if the role may see its data."""
    board = dashboard_build(user=request.user)
    return render(request, "accounts/dashboard.html", {"board": board})
