"""Scoped Key managers: limited to their teams' keys (PORTAL_SCOPE_KEY_MANAGERS=1, or one by one),
enforced by the services (the second lock) as well as the pages: another team's key is a 403
page and a service refusal, nothing is sent to Venice, and a refused attempt is no key change."""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, KeyManagerScope, KeyOwnership
from accounts.services.key_ownership import (
    NEW_KEY_OUTSIDE_SCOPE,
    KeyScopeRefused,
    key_manager_is_scoped,
)
from accounts.services.keys import api_key_create, api_key_delete, api_key_update
from accounts.services.rotation import rotation_start
from accounts.services.teams import member_key_scope_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoped(settings):
    settings.PORTAL_SCOPE_KEY_MANAGERS = True


@pytest.fixture
def two_teams(make_team, assign, key_manager, shared_venice):
    """Kim is in Data; one INFERENCE key is Data's, another is Web's, a third has no team."""
    data = make_team("Data", members=[key_manager])
    web = make_team("Web")
    keys = [k for k in shared_venice.api_keys.list(fresh=True) if not k.is_admin]
    ours, theirs, loose = keys[0], keys[1], keys[2]
    assign(ours, data)
    assign(theirs, web)
    return {"data": data, "web": web, "ours": ours, "theirs": theirs, "loose": loose}


def _writes(sandbox):
    return [r for r in sandbox.received if r.method in ("POST", "PATCH", "DELETE")]


def test_a_scoped_key_manager_may_change_their_teams_key(
    scoped, two_teams, manager_context, shared_venice, sandbox
):
    key = shared_venice.api_keys.get(two_teams["ours"].id, fresh=True)
    updated = api_key_update(context=manager_context, key=key, description="Data pipeline (v2)")
    assert updated.description == "Data pipeline (v2)"
    assert AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED, key_id=key.id).exists()


@pytest.mark.parametrize("which", ["theirs", "loose"])
def test_another_teams_key_is_refused_by_the_service_before_anything_is_sent(
    scoped, two_teams, manager_context, shared_venice, sandbox, which
):
    key = shared_venice.api_keys.get(two_teams[which].id, fresh=True)
    before = len(_writes(sandbox))
    records = AuditEvent.objects.count()
    with pytest.raises(KeyScopeRefused) as refused:
        api_key_update(context=manager_context, key=key, description="Hijacked")
    assert "only your teams' keys" in refused.value.message
    with pytest.raises(KeyScopeRefused):
        api_key_delete(context=manager_context, key=key)
    with pytest.raises(KeyScopeRefused):
        rotation_start(context=manager_context, key_id=key.id, grace="24h")
    # Nothing sent to Venice, and a refused attempt is not a key change in the log.
    assert len(_writes(sandbox)) == before
    assert AuditEvent.objects.count() == records
    assert shared_venice.api_keys.get(key.id, fresh=True).description == key.description


@pytest.mark.parametrize(
    ("url_name", "method"),
    [("keys:edit", "get"), ("keys:edit", "post"), ("keys:delete", "post"), ("keys:rotate", "post")],
)
def test_another_teams_key_is_a_403_page(
    scoped, two_teams, client, key_manager, sandbox, url_name, method
):
    client.force_login(key_manager)
    before = len(_writes(sandbox))
    url = reverse(url_name, args=[two_teams["theirs"].id])
    data = {"description": "Hijacked", "grace": "now"} if method == "post" else None
    response = getattr(client, method)(url, data) if data else client.get(url)
    assert response.status_code == 403
    page = unescape(response.content.decode())
    assert "You may change only your teams' keys" in page and "belongs to Web" in page
    assert len(_writes(sandbox)) == before
    assert (
        not AuditEvent.objects.filter(key_id=two_teams["theirs"].id)
        .exclude(action=AuditAction.KEY_ASSIGNED)
        .exists()
    )


def test_the_key_page_offers_no_changes_to_another_teams_key(
    scoped, two_teams, client, key_manager
):
    client.force_login(key_manager)
    theirs = client.get(reverse("keys:detail", args=[two_teams["theirs"].id]))
    ours = client.get(reverse("keys:detail", args=[two_teams["ours"].id]))
    assert theirs.status_code == ours.status_code == 200
    assert reverse("keys:edit", args=[two_teams["theirs"].id]) not in theirs.content.decode()
    assert reverse("keys:edit", args=[two_teams["ours"].id]) in ours.content.decode()


def test_a_scoped_key_manager_cannot_create_a_key_without_a_team_of_theirs(
    scoped, two_teams, manager_context, sandbox
):
    before = len(_writes(sandbox))
    for team_id in (None, two_teams["web"].pk):
        with pytest.raises(KeyScopeRefused) as refused:
            api_key_create(context=manager_context, description="Side project", team_id=team_id)
        assert refused.value.message == NEW_KEY_OUTSIDE_SCOPE
    assert len(_writes(sandbox)) == before
    created = api_key_create(
        context=manager_context, description="Data notebook", team_id=two_teams["data"].pk
    )
    assert KeyOwnership.objects.get(key_id=created.id).team == two_teams["data"]


def test_the_new_key_form_offers_only_their_teams_and_requires_one(
    scoped, two_teams, client, key_manager, sandbox
):
    client.force_login(key_manager)
    form = client.get(reverse("keys:new")).context["form"]
    assert list(form.fields["team"].queryset) == [two_teams["data"]]
    response = client.post(
        reverse("keys:new"),
        {
            "description": "Side project",
            "api_key_type": "INFERENCE",
            "limit_period": "MONTH",
            "model_privacy": "ALL",
            "expiry": "30d",
            "submission": "a" * 24,
            "team": str(two_teams["web"].pk),
        },
    )
    assert response.status_code == 200
    assert "team" in response.context["form"].errors
    assert not [r for r in sandbox.received if r.method == "POST"]


def test_one_key_manager_may_be_scoped_on_their_own(
    two_teams, admin_context, key_manager, manager_context, shared_venice, client, admin_user
):
    assert not key_manager_is_scoped(key_manager)
    client.force_login(admin_user)
    response = client.post(reverse("team:key_scope", args=[key_manager.pk]), {"scoped": "on"})
    assert response.status_code == 302
    assert KeyManagerScope.objects.filter(user=key_manager).exists()
    record = AuditEvent.objects.get(action=AuditAction.MEMBER_KEY_SCOPE_CHANGED)
    assert record.changes == {"scoped": [False, True]}
    assert key_manager_is_scoped(key_manager)
    key = shared_venice.api_keys.get(two_teams["theirs"].id, fresh=True)
    with pytest.raises(KeyScopeRefused):
        api_key_update(context=manager_context, key=key, expires_at=timezone.now() + timedelta(1))
    assert member_key_scope_set(context=admin_context, member=key_manager, scoped=False)
    assert not key_manager_is_scoped(key_manager)


def test_administrators_are_never_scoped(scoped, two_teams, admin_user, admin_context, sandbox):
    assert not key_manager_is_scoped(admin_user)
    assert api_key_create(context=admin_context, description="Anything goes").id
