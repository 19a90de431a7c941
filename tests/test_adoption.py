"""Adopting an existing account's keys: drift before, one `keys.adopted` record, no drift for
those keys after, and drift again for what changes outside the portal afterwards."""

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, KeyOwnership
from accounts.selectors.audit import audit_drift
from accounts.services.adoption import NOTHING_TO_ADOPT, AdoptionRefused, keys_adopt

pytestmark = pytest.mark.django_db


def test_adoption_gives_a_clean_baseline_and_later_outside_changes_are_drift_again(
    client, admin_user, shared_venice, sandbox_session, sandbox_url, make_team
):
    keys = shared_venice.api_keys.list(fresh=True)
    drift = audit_drift(keys)
    assert drift.unrecorded_total == len(keys) > 0
    make_team("Data")
    client.force_login(admin_user)
    page = client.get(reverse("audit:list")).content.decode()
    assert "Adopt the account&#x27;s current keys" in page or "Adopt the account's" in page

    response = client.post(reverse("audit:adopt"), {"patterns": "*backend* = data"}, follow=True)
    assert response.status_code == 200
    (record,) = AuditEvent.objects.filter(action=AuditAction.KEYS_ADOPTED)
    assert record.details["count"] == len(keys)
    snapshot = {entry["id"]: entry for entry in record.details["keys"]}
    assert set(snapshot) == {key.id for key in keys}
    one = keys[0]
    assert snapshot[one.id]["last6"] == one.last6
    assert snapshot[one.id]["type"] == str(one.api_key_type)
    assert set(snapshot[one.id]) >= {"description", "limits", "expires_at", "limit_period"}
    # Patterns gave a team to the keys whose description matched, each its own record.
    matched = [key for key in keys if "backend" in key.description.lower()]
    assert matched
    assert set(KeyOwnership.objects.values_list("key_id", flat=True)) == {k.id for k in matched}

    after = audit_drift(shared_venice.api_keys.list(fresh=True))
    assert not after.any

    # A key made outside the portal afterwards is drift again; so is an adopted key deleted
    # outside it.
    made = sandbox_session.post(
        sandbox_url("/api_keys"), json={"description": "Made by hand", "apiKeyType": "INFERENCE"}
    ).json()["data"]
    sandbox_session.delete(sandbox_url(f"/api_keys?id={keys[1].id}"))
    drift = audit_drift(shared_venice.api_keys.list(fresh=True))
    assert [key.id for key in drift.unrecorded] == [made["id"]]
    assert [key_id for key_id, _ in drift.vanished] == [keys[1].id]


def test_nothing_to_adopt_is_said_plainly(admin_context, shared_venice):
    keys_adopt(context=admin_context)
    with pytest.raises(AdoptionRefused) as refused:
        keys_adopt(context=admin_context)
    assert refused.value.message == NOTHING_TO_ADOPT
    assert AuditEvent.objects.filter(action=AuditAction.KEYS_ADOPTED).count() == 1


def test_an_unknown_team_in_a_pattern_is_an_error_and_adopts_nothing(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("audit:adopt"), {"patterns": "x* = nobody"}, follow=True)
    assert "there is no team “nobody”" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.KEYS_ADOPTED).exists()


def test_only_administrators_adopt(client, auditor, key_manager):
    for user in (auditor, key_manager):
        client.force_login(user)
        assert client.post(reverse("audit:adopt")).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.KEYS_ADOPTED).exists()


def test_patterns_fill_in_missing_teams_and_keep_what_someone_already_gave(
    admin_context, shared_venice, make_team, assign
):
    data, web = make_team("Data"), make_team("Web")
    keys = {key.description: key for key in shared_venice.api_keys.list(fresh=True)}
    backend, staging = keys["Production backend"], keys["Staging"]
    assign(backend, None, contact="oncall@example.com")  # an owner, no team yet
    assign(staging, web)  # a team chosen by hand

    keys_adopt(context=admin_context, patterns=[("*", data)])

    backend_row = KeyOwnership.objects.get(key_id=backend.id)
    assert (backend_row.team, backend_row.owner_contact) == (data, "oncall@example.com")
    assert KeyOwnership.objects.get(key_id=staging.id).team == web
