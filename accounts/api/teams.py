"""/api/v1/teams, a key's owner, and /api/v1/allocation: the team pages' and the cost
allocation's operations, over the same forms and services (roles, a scoped Key manager's
teams, audit) as the pages."""

from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema, Status
from ninja.schema import Field

from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError, check_form
from accounts.api.keys import ERRORS, _key
from accounts.api.usage import PeriodQuery
from accounts.forms import BillingPeriodForm, SpendExportForm
from accounts.forms.teams import TeamForm
from accounts.models import Team
from accounts.roles import Ability
from accounts.selectors.teams import teams_with_spend
from accounts.services.allocation import allocation_get
from accounts.services.billing_periods import venice_today
from accounts.services.exports import allocation_export
from accounts.services.key_ownership import (
    Assignment,
    key_assign,
    ownership_of,
    scope_refusal,
)
from accounts.services.teams import (
    team_create,
    team_delete,
    team_member_add,
    team_member_remove,
    team_update,
)
from accounts.venice import get_client

router = Router(tags=["teams"])

NO_SUCH_TEAM = "There is no team with this short name."
NO_SUCH_MEMBER = "There is no active member with this username."


class Spend(Schema):
    usd: Decimal
    diem: Decimal


class TeamOut(Schema):
    name: str
    slug: str
    budget_usd: Decimal | None
    budget_diem: Decimal | None
    members: list[str]
    key_ids: list[str] = Field(description="Its keys, deleted ones included")
    this_month: Spend | None = Field(
        None, description="Spend so far this month (roles that see billing)"
    )
    projected: Spend | None = Field(None, description="This month's projection to its end")


class TeamList(Schema):
    teams: list[TeamOut]


class TeamIn(Schema):
    name: str = Field(min_length=1, max_length=80)
    slug: str = Field("", max_length=80, description="Empty: made from the name")
    budget_usd: Decimal | None = None
    budget_diem: Decimal | None = None


class TeamChange(Schema):
    name: str | None = Field(None, min_length=1, max_length=80)
    slug: str | None = Field(None, max_length=80)
    budget_usd: Decimal | None = None
    budget_diem: Decimal | None = None


class MemberIn(Schema):
    username: str


class OwnerIn(Schema):
    team: str | None = Field(None, description="The team's short name; null: no team")
    owner: str | None = Field(None, description="A member's username")
    owner_contact: str = Field("", max_length=120, description="Or a contact, not both")


class OwnerOut(Schema):
    key_id: str
    team: str | None
    owner: str | None
    owner_contact: str
    changed: bool


class AllocationKey(Spend):
    key_id: str | None = Field(description="null: the web app (no key)")
    description: str
    owner: str


class AllocationTeam(Spend):
    team: str
    slug: str
    budget_usd: Decimal | None
    budget_diem: Decimal | None
    keys: list[AllocationKey]


class AllocationOut(Schema):
    start: date
    end: date
    teams: list[AllocationTeam]
    total: Spend = Field(description="The teams' sum (Unassigned and the web app included)")
    account_total: Spend = Field(description="Venice's own total for the same days")
    adds_up: bool = Field(
        description="Apart by less than half a cent and half a ten-thousandth of a DIEM"
    )


class AllocationFile(PeriodQuery):
    format: str = Field("csv", pattern="^(csv|focus)$")


def _team(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise ApiError(404, "not_found", NO_SUCH_TEAM)
    return team


def _member(username: str):
    member = get_user_model().objects.filter(username=username, is_active=True).first()
    if member is None:
        raise ApiError(422, "invalid", NO_SUCH_MEMBER, fields={"username": [NO_SUCH_MEMBER]})
    return member


def _team_out(request, spend) -> dict:
    team = spend.team
    out = {
        "name": team.name,
        "slug": team.slug,
        "budget_usd": team.budget_usd,
        "budget_diem": team.budget_diem,
        "members": [user.get_username() for user in spend.members],
        "key_ids": [key.key_id for key in spend.keys],
    }
    if request.user.has_perm(Ability.VIEW_BILLING.permission):
        out["this_month"] = {"usd": spend.usd, "diem": spend.diem}
        if spend.projection is not None:
            out["projected"] = {"usd": spend.projection.usd, "diem": spend.projection.diem}
    return out


@router.get("/teams", response={200: TeamList, **ERRORS}, summary="List teams")
def list_teams(request):
    require(request, Ability.VIEW_TEAMS)
    return {"teams": [_team_out(request, spend) for spend in teams_with_spend()]}


@router.get("/teams/{slug}", response={200: TeamOut, **ERRORS}, summary="Get a team")
def get_team(request, slug: str):
    require(request, Ability.VIEW_TEAMS)
    (spend,) = teams_with_spend([_team(slug)])
    return _team_out(request, spend)


def _form_values(data: dict, instance=None) -> dict:
    form = TeamForm({k: ("" if v is None else str(v)) for k, v in data.items()}, instance=instance)
    check_form(form)
    return form.values()


@router.post("/teams", response={201: TeamOut, **ERRORS}, summary="Create a team")
def create_team(request, body: TeamIn):
    require(request, Ability.MANAGE_TEAMS)
    team = team_create(context=audit_context(request), **_form_values(body.dict()))
    (spend,) = teams_with_spend([team])
    return Status(201, _team_out(request, spend))


@router.patch("/teams/{slug}", response={200: TeamOut, **ERRORS}, summary="Change a team")
def update_team(request, slug: str, body: TeamChange):
    """Only the fields sent change; `null` clears a budget."""
    require(request, Ability.MANAGE_TEAMS)
    team = _team(slug)
    current = {"name": team.name, "slug": team.slug, "budget_usd": team.budget_usd}
    current["budget_diem"] = team.budget_diem
    data = {**current, **{name: getattr(body, name) for name in body.model_fields_set}}
    team_update(
        context=audit_context(request),
        team=team,
        **_form_values(data, instance=Team.objects.get(pk=team.pk)),
    )
    team.refresh_from_db()
    (spend,) = teams_with_spend([team])
    return _team_out(request, spend)


@router.delete("/teams/{slug}", response={204: None, **ERRORS}, summary="Delete a team")
def delete_team(request, slug: str):
    """Its keys keep their owners and have no team any more."""
    require(request, Ability.MANAGE_TEAMS)
    team_delete(context=audit_context(request), team=_team(slug))
    return Status(204, None)


@router.post("/teams/{slug}/members", response={204: None, **ERRORS}, summary="Add a member")
def add_member(request, slug: str, body: MemberIn):
    require(request, Ability.MANAGE_TEAMS)
    team_member_add(context=audit_context(request), team=_team(slug), member=_member(body.username))
    return Status(204, None)


@router.delete(
    "/teams/{slug}/members/{username}", response={204: None, **ERRORS}, summary="Remove a member"
)
def remove_member(request, slug: str, username: str):
    require(request, Ability.MANAGE_TEAMS)
    team_member_remove(context=audit_context(request), team=_team(slug), member=_member(username))
    return Status(204, None)


@router.put("/keys/{key_id}/owner", response={200: OwnerOut, **ERRORS}, summary="Set a key's owner")
def set_owner(request, key_id: str, body: OwnerIn):
    """The key's team and owner (a member's username, or a contact); a scoped Key manager's
    token may set them only on their teams' keys, and only to their teams."""
    require(request, Ability.ASSIGN_KEYS)
    key = _key(key_id)
    if reason := scope_refusal(request.user, key.id, key.description):
        raise ApiError(403, "forbidden", reason)
    team = _team(body.team) if body.team else None
    owner = _member(body.owner) if body.owner else None
    if owner is not None and body.owner_contact.strip():
        raise ApiError(422, "invalid", "Name a member or a contact, not both.")
    changed = key_assign(
        context=audit_context(request),
        key_id=key.id,
        description=key.description,
        last6=key.last6,
        assignment=Assignment(team=team, owner=owner, owner_contact=body.owner_contact.strip()),
    )
    ownership = ownership_of(key.id)
    return {
        "key_id": key.id,
        "team": ownership.team.slug if ownership and ownership.team else None,
        "owner": ownership.owner.get_username() if ownership and ownership.owner else None,
        "owner_contact": ownership.owner_contact if ownership else "",
        "changed": changed,
    }


@router.get("/allocation", response={200: AllocationOut, **ERRORS}, summary="Cost allocation")
def allocation(request, query: Query[PeriodQuery]):
    """A period's spend by team, then key, USD and DIEM apart, with the account's own total
    for the same days (a preset, or `start` and `end`; this month by default)."""
    require(request, Ability.VIEW_BILLING)
    form = BillingPeriodForm(query.dict(exclude_none=True), today=venice_today())
    check_form(form)
    result = allocation_get(period=form.to_period(), now=get_client().now())
    return {
        "start": result.period.start,
        "end": result.period.end,
        "teams": [
            {
                "team": team.name,
                "slug": team.slug,
                "usd": team.usd,
                "diem": team.diem,
                "budget_usd": team.budget_usd,
                "budget_diem": team.budget_diem,
                "keys": [
                    {
                        "key_id": key.key_id or None,
                        "description": key.description,
                        "owner": key.owner,
                        "usd": key.usd,
                        "diem": key.diem,
                    }
                    for key in team.key_rows
                ],
            }
            for team in result.teams
        ],
        "total": {"usd": result.total_usd, "diem": result.total_diem},
        "account_total": {"usd": result.account_usd, "diem": result.account_diem},
        "adds_up": result.adds_up,
    }


@router.get(
    "/allocation.csv",
    response={200: str, **ERRORS},
    summary="Cost allocation file (CSV or FOCUS)",
    openapi_extra={"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def allocation_file(request, query: Query[AllocationFile]):
    """The chargeback file (`format=csv`) or its FOCUS form (`format=focus`), streamed and
    audited as an export; this month by default, or `start` and `end`."""
    require(request, Ability.VIEW_BILLING)
    today = venice_today()
    form = SpendExportForm(query.dict(exclude_none=True, exclude={"format", "period"}), today=today)
    check_form(form)
    first, last = form.days()
    export = allocation_export(
        context=audit_context(request),
        first=first,
        last=last,
        today=today,
        focus=query.format == "focus",
    )
    response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
