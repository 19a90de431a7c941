"""A key's team and owner: on create (required when PORTAL_REQUIRE_KEY_TEAM says so), on the key's
page, in bulk from the key list; each change one `key.assigned` record; the list filters and
groups by team and owner; a rotation's replacement keeps them."""

from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, KeyOwnership
from accounts.services.key_ownership import TEAM_REQUIRED, OwnershipInvalid
from accounts.services.keys import api_key_create
from accounts.services.rotation import rotation_start

pytestmark = pytest.mark.django_db


def _create_form(**extra):
    return {
        "description": "Reporting job",
        "api_key_type": "INFERENCE",
        "limit_period": "MONTH",
        "model_privacy": "ALL",
        "expiry": "30d",
        "submission": "b" * 24,
        **extra,
    }


def test_a_key_created_with_a_team_and_owner_records_both(client, key_manager, make_team, sandbox):
    team = make_team("Data", members=[key_manager])
    client.force_login(key_manager)
    response = client.post(
        reverse("keys:new"), _create_form(team=str(team.pk), owner=str(key_manager.pk))
    )
    assert response.status_code == 200 and response.context["secret"]
    key = response.context["key"]
    ownership = KeyOwnership.objects.get(key_id=key.id)
    assert (ownership.team, ownership.owner) == (team, key_manager)
    created, assigned = AuditEvent.objects.filter(key_id=key.id).order_by("id")
    assert created.action == AuditAction.KEY_CREATED
    assert assigned.action == AuditAction.KEY_ASSIGNED
    assert assigned.changes == {"team": [None, "Data"], "owner": [None, "kim"]}


def test_a_member_and_a_contact_together_are_a_field_error(client, key_manager, sandbox):
    client.force_login(key_manager)
    response = client.post(
        reverse("keys:new"), _create_form(owner=str(key_manager.pk), owner_contact="ops@x")
    )
    assert "owner_contact" in response.context["form"].errors
    assert not [r for r in sandbox.received if r.method == "POST"]


def test_a_team_is_required_when_the_setting_says_so(
    settings, client, key_manager, admin_context, sandbox
):
    settings.PORTAL_REQUIRE_KEY_TEAM = True
    client.force_login(key_manager)
    response = client.post(reverse("keys:new"), _create_form())
    assert response.context["form"].errors["team"] == [TEAM_REQUIRED]
    with pytest.raises(OwnershipInvalid):
        api_key_create(context=admin_context, description="No team")
    assert not [r for r in sandbox.received if r.method == "POST"]


def test_the_key_page_sets_the_team_and_a_contact(client, admin_user, make_team, inference_key_id):
    team = make_team("Web")
    client.force_login(admin_user)
    url = reverse("keys:owner", args=[inference_key_id])
    assert client.get(url).status_code == 200
    response = client.post(url, {"team": team.pk, "owner_contact": "web-oncall@example.com"})
    assert response.status_code == 302
    page = unescape(client.get(reverse("keys:detail", args=[inference_key_id])).content.decode())
    assert "Web" in page and "web-oncall@example.com" in page
    record = AuditEvent.objects.get(action=AuditAction.KEY_ASSIGNED)
    assert record.key_id == inference_key_id
    assert record.changes == {
        "team": [None, "Web"],
        "owner_contact": [None, "web-oncall@example.com"],
    }
    # The same again is no change and no record.
    client.post(url, {"team": team.pk, "owner_contact": "web-oncall@example.com"})
    assert AuditEvent.objects.filter(action=AuditAction.KEY_ASSIGNED).count() == 1


def test_several_keys_are_assigned_at_once_from_the_list(
    client, admin_user, make_team, shared_venice
):
    team = make_team("Data")
    keys = shared_venice.api_keys.list()[:3]
    client.force_login(admin_user)
    response = client.post(
        reverse("keys:assign"),
        {"assign-keys": [k.id for k in keys], "assign-team": team.pk},
        follow=True,
    )
    assert "Assigned 3 keys to Data (3 changed)." in unescape(response.content.decode())
    assert KeyOwnership.objects.filter(team=team).count() == 3
    records = AuditEvent.objects.filter(action=AuditAction.KEY_ASSIGNED)
    assert {r.key_id for r in records} == {k.id for k in keys}
    assert {r.details["bulk"] for r in records} == {3}


def test_assigning_without_ticking_a_key_says_so(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("keys:assign"), {"assign-team": ""}, follow=True)
    assert "Tick at least one key to assign." in response.content.decode()


def test_finance_may_not_assign(client, finance_user, inference_key_id):
    client.force_login(finance_user)
    assert (
        client.post(reverse("keys:assign"), {"assign-keys": [inference_key_id]}).status_code == 403
    )
    assert client.get(reverse("keys:owner", args=[inference_key_id])).status_code == 403


def test_the_list_filters_and_groups_by_team_and_owner(
    client, admin_user, make_team, assign, shared_venice, key_manager
):
    data, web = make_team("Data"), make_team("Web")
    keys = shared_venice.api_keys.list()
    assign(keys[0], data, owner=key_manager)
    assign(keys[1], web, contact="web-oncall@example.com")
    client.force_login(admin_user)
    listing = client.get(reverse("keys:list"), {"team": "data"}).context["listing"]
    assert [row.key.id for row in listing.rows] == [keys[0].id]
    listing = client.get(reverse("keys:list"), {"team": "none"}).context["listing"]
    assert len(listing.rows) == len(keys) - 2
    listing = client.get(reverse("keys:list"), {"owner": "web-oncall@example.com"}).context[
        "listing"
    ]
    assert [row.key.id for row in listing.rows] == [keys[1].id]
    response = client.get(reverse("keys:list"), {"group": "team"}, HTTP_HX_REQUEST="true")
    groups = [name for name, _ in response.context["groups"]]
    assert groups == ["Data", "Web", "No team"]
    assert b"<html" not in response.content


def test_a_rotations_replacement_keeps_the_team_and_owner(
    admin_context, make_team, assign, shared_venice, key_manager
):
    team = make_team("Data")
    key = [k for k in shared_venice.api_keys.list(fresh=True) if not k.is_admin][0]
    assign(key, team, owner=key_manager)
    outcome = rotation_start(context=admin_context, key_id=key.id, grace="24h", now=timezone.now())
    new = KeyOwnership.objects.get(key_id=outcome.rotation.new_key_id)
    assert (new.team, new.owner) == (team, key_manager)
