"""The audit sentences of teams, key ownership, a Key manager's scope and adoption, read off
records their own flows wrote (the services, through the pages where a person uses them)."""

from html import unescape

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent
from accounts.presentation.audit import audit_sentence

pytestmark = pytest.mark.django_db

TEAMS_ACTIONS = {
    AuditAction.TEAM_CREATED,
    AuditAction.TEAM_UPDATED,
    AuditAction.TEAM_DELETED,
    AuditAction.TEAM_MEMBER_ADDED,
    AuditAction.TEAM_MEMBER_REMOVED,
    AuditAction.MEMBER_KEY_SCOPE_CHANGED,
    AuditAction.KEY_ASSIGNED,
    AuditAction.KEYS_ADOPTED,
}


@pytest.fixture
def every_teams_action(client, admin_user, key_manager, shared_venice):
    """One record of each action, each written by the page a person uses for it."""
    client.force_login(admin_user)
    client.post(reverse("teams:new"), {"name": "Data", "budget_usd": "100"})
    client.post(
        reverse("teams:edit", args=["data"]),
        {"name": "Data", "slug": "data", "budget_usd": "150", "budget_diem": "20"},
    )
    client.post(reverse("teams:member_add", args=["data"]), {"user": key_manager.pk})
    client.post(reverse("team:key_scope", args=[key_manager.pk]), {"scoped": "on"})
    client.post(reverse("audit:adopt"), {"patterns": ""})
    keys = shared_venice.api_keys.list()[:2]
    from accounts.models import Team

    client.post(
        reverse("keys:assign"),
        {"assign-keys": [k.id for k in keys], "assign-team": Team.objects.get().pk},
    )
    client.post(reverse("teams:member_remove", args=["data", key_manager.pk]))
    client.post(reverse("teams:delete", args=["data"]))
    return keys


def _sentence(action) -> str:
    return unescape(audit_sentence(AuditEvent.objects.filter(action=action).order_by("id").last()))


def test_every_teams_action_is_written_by_its_flow_and_reads_as_a_sentence(every_teams_action):
    written = set(AuditEvent.objects.values_list("action", flat=True))
    assert TEAMS_ACTIONS <= written
    for event in AuditEvent.objects.filter(action__in=TEAMS_ACTIONS):
        sentence = audit_sentence(event)
        assert sentence and event.action not in sentence
        assert "None" not in sentence and "{" not in sentence


def test_the_teams_sentences_say_what_happened(every_teams_action):
    keys = every_teams_action
    assert _sentence(AuditAction.TEAM_CREATED) == (
        "ada created the team “Data”, with a monthly USD budget of $100.00"
    )
    assert _sentence(AuditAction.TEAM_UPDATED).startswith(
        "ada changed the team “Data”: monthly USD budget from $100.00 to $150.00"
    )
    assert _sentence(AuditAction.TEAM_MEMBER_ADDED) == "ada added kim to the team “Data”"
    assert _sentence(AuditAction.TEAM_MEMBER_REMOVED) == "ada removed kim from the team “Data”"
    assert _sentence(AuditAction.MEMBER_KEY_SCOPE_CHANGED) == (
        "ada changed which keys may be changed by kim: only their teams' keys"
    )
    assert _sentence(AuditAction.KEYS_ADOPTED).startswith("ada adopted ")
    assert _sentence(AuditAction.KEYS_ADOPTED).endswith("existing keys into the audit baseline")
    assigned = _sentence(AuditAction.KEY_ASSIGNED)
    assert assigned.startswith("ada set the team and owner of “")
    assert f"…{keys[1].last6}: team from none to “Data” (one of 2 keys at once)" in assigned
    assert _sentence(AuditAction.TEAM_DELETED) == (
        "ada deleted the team “Data”; its 2 keys have no team now"
    )
