"""/teams/ and /teams/<slug>/: teams with budgets, members and keys, this month's spend against
the budget with a projection; Administrators manage them, every change an audit record."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, KeyOwnership, Team, TeamMembership
from accounts.selectors.teams import teams_with_spend
from accounts.services.teams import team_create

pytestmark = pytest.mark.django_db


def test_an_administrator_creates_a_team_with_budgets(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("teams:new"), {"name": "Data science", "slug": "", "budget_usd": "250.50"}
    )
    team = Team.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "teams:detail", args=["data-science"]
    )
    assert (team.slug, team.budget_usd, team.budget_diem) == (
        "data-science",
        Decimal("250.50"),
        None,
    )
    record = AuditEvent.objects.get(action=AuditAction.TEAM_CREATED)
    assert record.details["team"] == "Data science"
    assert record.changes["budget_usd"] == [None, "250.5"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "budget_usd": ""}, "name"),
        ({"name": "X", "budget_usd": "-1"}, "budget_usd"),
        ({"name": "X", "budget_diem": "1.123456"}, "budget_diem"),
        ({"name": "New", "slug": "new"}, "slug"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_saved(client, admin_user, data, field):
    client.force_login(admin_user)
    response = client.post(reverse("teams:new"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Team.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.TEAM_CREATED).exists()


def test_a_second_team_of_the_same_name_is_refused_with_a_field_error(
    client, admin_user, make_team
):
    make_team("Data")
    client.force_login(admin_user)
    response = client.post(reverse("teams:new"), {"name": "Data", "slug": "data-2"})
    assert "Another team already has this name." in response.context["form"].errors["name"]


def test_editing_a_team_records_before_and_after(client, admin_user, make_team):
    team = make_team("Data", budget_usd="100")
    client.force_login(admin_user)
    response = client.post(
        reverse("teams:edit", args=[team.slug]),
        {"name": "Data", "slug": "data", "budget_usd": "150", "budget_diem": "20"},
    )
    assert response.status_code == 302
    record = AuditEvent.objects.get(action=AuditAction.TEAM_UPDATED)
    assert record.changes == {"budget_usd": ["100", "150"], "budget_diem": [None, "20"]}


def test_members_are_added_and_removed_through_audited_posts(
    client, admin_user, make_team, key_manager
):
    team = make_team("Data")
    client.force_login(admin_user)
    client.post(reverse("teams:member_add", args=[team.slug]), {"user": key_manager.pk})
    assert TeamMembership.objects.filter(team=team, user=key_manager).exists()
    page = client.get(reverse("teams:detail", args=[team.slug])).content.decode()
    assert "kim" in page
    client.post(reverse("teams:member_remove", args=[team.slug, key_manager.pk]))
    assert not TeamMembership.objects.exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == [AuditAction.TEAM_MEMBER_ADDED, AuditAction.TEAM_MEMBER_REMOVED]


def test_deleting_a_team_leaves_its_keys_unassigned(
    client, admin_user, make_team, assign, shared_venice
):
    team = make_team("Data")
    key = shared_venice.api_keys.list()[0]
    assign(key, team)
    client.force_login(admin_user)
    response = client.post(reverse("teams:delete", args=[team.slug]), follow=True)
    assert "now count as Unassigned" in response.content.decode()
    assert KeyOwnership.objects.get(key_id=key.id).team is None
    assert AuditEvent.objects.get(action=AuditAction.TEAM_DELETED).details["keys"] == 1


def test_a_key_manager_may_read_teams_but_not_change_them(
    client, key_manager, make_team, manager_context
):
    team = make_team("Data")
    client.force_login(key_manager)
    assert client.get(reverse("teams:list")).status_code == 200
    assert client.get(reverse("teams:detail", args=[team.slug])).status_code == 200
    assert client.post(reverse("teams:delete", args=[team.slug])).status_code == 403
    with pytest.raises(PermissionDenied):
        team_create(context=manager_context, name="Mine", slug="mine")
    assert Team.objects.count() == 1


def test_this_months_spend_is_the_sum_of_the_teams_keys_against_the_budget(
    make_team, assign, shared_venice, sandbox, finance_client
):
    team = make_team("Data", budget_usd="0.01", budget_diem="1000000")
    keys = [k for k in shared_venice.api_keys.list(fresh=True) if not k.is_admin][:2]
    for key in keys:
        assign(key, team)
    sandbox.use_key(keys[0].id, usd=2.5, diem=1)
    (spend,) = teams_with_spend([team])
    today = sandbox.clock.now().date()
    analytics = shared_venice.billing.get_usage_analytics(start=today.replace(day=1), end=today)
    expected = {u.api_key_id: u for u in analytics.by_key}
    usd = sum((expected[k.id].total_usd for k in keys if k.id in expected), Decimal(0))
    assert spend.usd == usd and spend.usd >= Decimal("2.5")
    assert spend.usd_percent > 100
    page = finance_client.get(reverse("teams:detail", args=[team.slug])).content.decode()
    assert "This month in USD" in page
    if spend.projection is not None:
        assert spend.projected_over_usd and "over budget" in page


def test_without_venice_the_teams_still_show_with_a_readable_message(
    client, admin_user, make_team, sandbox
):
    make_team("Data")
    sandbox.faults.inject("/api_keys", "GET", status=503, times=50)
    client.force_login(admin_user)
    response = client.get(reverse("teams:list"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Data" in page and "Venice could not be read" in page
