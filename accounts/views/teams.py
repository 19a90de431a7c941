"""The team pages: /teams/ and /teams/<slug>/ (everyone with a role reads them), and their
changes (Administrators): a team and its budgets, its members, a Key manager's scope. One small
view per action; the services write the audit records."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import ability_required
from accounts.forms.teams import KeyScopeForm, TeamForm, TeamMemberForm
from accounts.models import Team
from accounts.roles import Ability
from accounts.selectors.teams import teams_with_spend
from accounts.services.audit import audit_context_from_request
from accounts.services.teams import (
    TeamChangeRefused,
    member_key_scope_set,
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)
from accounts.venice import VeniceError


def _spend(teams):
    """(rows, error): without Venice the teams still show, without their spend."""
    try:
        return teams_with_spend(teams), None
    except VeniceError as error:
        return None, error


@ability_required(Ability.VIEW_TEAMS)
@require_GET
def team_list(request):
    teams = list(Team.objects.prefetch_related("memberships"))
    rows, error = _spend(teams)
    context = {
        "teams": teams,
        "rows": rows,
        "error": error,
        "may_manage": request.user.has_perm(Ability.MANAGE_TEAMS.permission),
        "may_see_spend": request.user.has_perm(Ability.VIEW_BILLING.permission),
    }
    return render(request, "teams/list.html", context)


@ability_required(Ability.MANAGE_TEAMS)
@require_http_methods(["GET", "POST"])
def team_new(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = team_create(context=audit_context_from_request(request), **form.values())
        messages.success(request, f"Team “{team.name}” created.")
        return redirect("teams:detail", team.slug)
    return render(request, "teams/edit.html", {"form": form, "team": None})


@ability_required(Ability.VIEW_TEAMS)
@require_GET
def team_detail(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    rows, error = _spend([team])
    may_manage = request.user.has_perm(Ability.MANAGE_TEAMS.permission)
    context = {
        "team": team,
        "spend": rows[0] if rows else None,
        "members": [m.user for m in team.memberships.select_related("user")],
        "error": error,
        "may_manage": may_manage,
        "may_see_spend": request.user.has_perm(Ability.VIEW_BILLING.permission),
        "member_form": TeamMemberForm(team=team) if may_manage else None,
    }
    return render(request, "teams/detail.html", context)


@ability_required(Ability.MANAGE_TEAMS)
@require_http_methods(["GET", "POST"])
def team_edit(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    form = TeamForm(request.POST or None, instance=Team.objects.get(pk=team.pk))
    if request.method == "POST" and form.is_valid():
        changed = team_update(
            context=audit_context_from_request(request), team=team, **form.values()
        )
        team.refresh_from_db()
        messages.success(request, "Saved." if changed else "Nothing changed.")
        return redirect("teams:detail", team.slug)
    return render(request, "teams/edit.html", {"form": form, "team": team})


@ability_required(Ability.MANAGE_TEAMS)
@require_POST
def team_delete_view(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    keys = team_delete(context=audit_context_from_request(request), team=team)
    note = f" Its {keys} key{'s' if keys != 1 else ''} now count as Unassigned." if keys else ""
    messages.success(request, f"Team “{team.name}” deleted.{note}")
    return redirect("teams:list")


@ability_required(Ability.MANAGE_TEAMS)
@require_POST
def team_member_add_view(request, slug: str):
    team = get_object_or_404(Team, slug=slug)
    form = TeamMemberForm(request.POST, team=team)
    if not form.is_valid():
        messages.error(request, "Choose a member who is not in the team yet.")
        return redirect("teams:detail", team.slug)
    member = form.cleaned_data["user"]
    try:
        team_member_add(context=audit_context_from_request(request), team=team, member=member)
    except TeamChangeRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"{_name(member)} is now in {team.name}.")
    return redirect("teams:detail", team.slug)


@ability_required(Ability.MANAGE_TEAMS)
@require_POST
def team_member_remove_view(request, slug: str, user_id: int):
    team = get_object_or_404(Team, slug=slug)
    member = _member(user_id)
    try:
        team_member_remove(context=audit_context_from_request(request), team=team, member=member)
    except TeamChangeRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"{_name(member)} is no longer in {team.name}.")
    return redirect("teams:detail", team.slug)


@ability_required(Ability.MANAGE_TEAMS)
@require_POST
def member_key_scope(request, user_id: int):
    """On a member's page: limit a Key manager to their teams' keys, or lift the limit."""
    member = _member(user_id)
    form = KeyScopeForm(request.POST)
    form.is_valid()
    scoped = bool(form.cleaned_data.get("scoped"))
    changed = member_key_scope_set(
        context=audit_context_from_request(request), member=member, scoped=scoped
    )
    if changed:
        what = "only their teams' keys" if scoped else "every INFERENCE key"
        messages.success(request, f"{_name(member)} may now change {what}.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("team:detail", member.pk)


def _member(user_id: int):
    member = get_user_model().objects.filter(pk=user_id).first()
    if member is None:
        raise Http404("No such member.")
    return member


def _name(user) -> str:
    return user.get_full_name() or user.get_username()
