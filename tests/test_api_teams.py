"""/api/v1/teams, /api/v1/keys/{id}/owner and /api/v1/allocation: the same services, roles,
scope and audit as the pages."""

from decimal import Decimal

import pytest

from accounts.models import AuditAction, AuditEvent, KeyOwnership, TeamMembership
from accounts.roles import ADMINISTRATOR, FINANCE, KEY_MANAGER
from accounts.services.key_ownership import NEW_KEY_OUTSIDE_SCOPE
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = pytest.mark.django_db


def test_an_administrators_token_makes_a_team_adds_a_member_and_assigns_a_key(
    api_as, sandbox, shared_venice, key_manager
):
    api = api_as(ADMINISTRATOR)
    response = api.post("/teams", {"name": "Data", "budget_usd": "120.00"})
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "data"
    assert response.json()["budget_usd"] == "120.00"
    assert api.post("/teams/data/members", {"username": "kim"}).status_code == 204
    assert TeamMembership.objects.filter(team__slug="data", user=key_manager).exists()
    key = shared_venice.api_keys.list()[0]
    response = api.put(f"/keys/{key.id}/owner", {"team": "data", "owner": "kim"})
    assert response.status_code == 200
    assert response.json() == {
        "key_id": key.id,
        "team": "data",
        "owner": "kim",
        "owner_contact": "",
        "changed": True,
    }
    assert api.get(f"/keys/{key.id}").json()["team"] == "data"
    record = AuditEvent.objects.get(action=AuditAction.KEY_ASSIGNED)
    assert record.details["via_token"]["name"] == "CI"
    response = api.patch("/teams/data", {"budget_usd": None})
    assert response.status_code == 200 and response.json()["budget_usd"] is None
    bad = api.post("/teams", {"name": "Data"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["name"]


def test_a_scoped_key_managers_token_is_refused_another_teams_key(
    settings, api_as, sandbox, shared_venice, make_team, assign
):
    settings.PORTAL_SCOPE_KEY_MANAGERS = True
    api = api_as(KEY_MANAGER, username="kai")
    data = make_team("Data", members=[api.member])
    web = make_team("Web")
    keys = [k for k in shared_venice.api_keys.list(fresh=True) if not k.is_admin]
    assign(keys[0], data)
    assign(keys[1], web)
    writes = len([r for r in sandbox.received if r.method != "GET"])
    for response in (
        api.patch(f"/keys/{keys[1].id}", {"description": "Hijacked"}),
        api.delete(f"/keys/{keys[1].id}"),
        api.post(f"/keys/{keys[1].id}/rotate", {"grace": "24h"}),
        api.put(f"/keys/{keys[1].id}/owner", {"team": "data"}),
        api.put(f"/keys/{keys[0].id}/owner", {"team": "web"}),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "forbidden"
    # A new key without one of their teams: the form's field error, before the service's.
    for body in ({"description": "Side project"}, {"description": "Side", "team": "web"}):
        response = api.post("/keys", body)
        assert response.status_code == 422
        assert response.json()["error"]["fields"]["team"] == [NEW_KEY_OUTSIDE_SCOPE]
    assert len([r for r in sandbox.received if r.method != "GET"]) == writes
    ok = api.patch(f"/keys/{keys[0].id}", {"description": "Data pipeline"})
    assert ok.status_code == 200
    created = api.post("/keys", {"description": "Data notebook", "team": "data"})
    assert created.status_code == 201 and created.json()["team"] == "data"
    assert KeyOwnership.objects.get(key_id=created.json()["id"]).team == data


def test_the_allocation_adds_up_and_its_focus_file_streams(api_as, sandbox, make_team):
    make_team("Data")
    api = api_as(FINANCE)
    body = api.get("/allocation", {"period": "last-month"}).json()
    assert body["adds_up"] is True
    total = sum(Decimal(team["usd"]) for team in body["teams"])
    assert total == Decimal(body["total"]["usd"])
    assert abs(total - Decimal(body["account_total"]["usd"])) < Decimal("0.005")
    response = api.get(
        "/allocation.csv", {"start": body["start"], "end": body["end"], "format": "focus"}
    )
    assert response.status_code == 200
    rows = read_csv(streamed_text(response))
    assert "BilledCost" in rows[0] and len(rows) > 1
    assert AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED).details["export"] == (
        "allocation-focus"
    )
