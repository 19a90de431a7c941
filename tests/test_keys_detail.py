"""/keys/<id>/: every field, usage against the limit, flags, and this key's audit trail."""

import pytest

from accounts.models import AuditAction
from tests.factories import AuditEventFactory
from tests.fixtures.keys import seeded_key_id

pytestmark = pytest.mark.django_db


def test_key_page_shows_every_field(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    record = sandbox.find_key(inference_key_id)

    response = client.get(f"/keys/{inference_key_id}/")

    page = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Production backend",
        inference_key_id,
        f"…{record.last6}",
        "INFERENCE",
        "Monthly",  # the limit period by name, not its code (MONTH)
        "$500.00",
        "Last 7 days",
        "Model privacy",
    ):
        assert text in page
    assert sandbox.inference_key not in page  # the seeded "Production backend" secret


def test_current_period_usage_is_a_meter_against_the_limit(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    page = client.get(f"/keys/{inference_key_id}/").content.decode()
    assert '<meter class="meter"' in page
    assert 'max="500.000000"' in page


def test_a_key_without_limits_says_it_can_spend_without_a_cap(client, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/keys/{seeded_key_id('Mobile app')}/").content.decode()
    assert "no consumption limit" in page
    assert "<meter" not in page


def test_flags_show_as_badges(client, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/keys/{seeded_key_id('Old prototype')}/").content.decode()
    assert "unused 30+ days" in page
    page = client.get(f"/keys/{seeded_key_id('Temporary demo key')}/").content.decode()
    assert "expires soon" in page


def test_the_audit_trail_lists_this_keys_records_only(client, admin_user, inference_key_id):
    mine = AuditEventFactory(
        key_id=inference_key_id,
        action=AuditAction.KEY_UPDATED,
        changes={"description": ["Prod", "Production backend"]},
    )
    AuditEventFactory(key_id="another-key", key_description="Someone else's key")
    client.force_login(admin_user)

    page = client.get(f"/keys/{inference_key_id}/").content.decode()

    # The record as a sentence, as the audit log writes it.
    assert f"{mine.actor_username} changed " in page
    assert "description from “Prod” to “Production backend”" in page
    assert "Someone else&#x27;s key" not in page and "another-key" not in page


def test_a_key_created_with_its_secret_lost_is_flagged(client, admin_user, inference_key_id):
    AuditEventFactory(
        key_id=inference_key_id, action=AuditAction.KEY_CREATED, details={"secret_lost": True}
    )
    client.force_login(admin_user)
    page = client.get(f"/keys/{inference_key_id}/").content.decode()
    assert "Secret lost — rotate or delete this key." in page


def test_unknown_key_is_a_404_that_says_so(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 404
    assert b"This key doesn't exist" in response.content


def test_venice_failing_is_a_503_with_the_reason(client, admin_user, sandbox, inference_key_id):
    sandbox.faults.inject("/api_keys/*", "GET", status=401, times=1)
    client.force_login(admin_user)
    response = client.get(f"/keys/{inference_key_id}/")
    assert response.status_code == 503
    assert b"Check that VENICE_API_KEY holds a valid Venice ADMIN key." in response.content


@pytest.mark.parametrize(
    ("role_fixture", "key", "buttons"),
    [
        ("admin_user", "Billing automation", True),
        ("admin_user", "Production backend", True),
        ("key_manager", "Production backend", True),
        ("key_manager", "Billing automation", False),
        ("finance_user", "Production backend", False),
        ("auditor", "Production backend", False),
    ],
)
def test_action_buttons_only_for_those_who_may_use_them(
    client, request, role_fixture, key, buttons
):
    client.force_login(request.getfixturevalue(role_fixture))
    key_id = seeded_key_id(key)
    page = client.get(f"/keys/{key_id}/").content.decode()
    assert (f'href="/keys/{key_id}/edit/"' in page) is buttons
    assert (f'href="/keys/{key_id}/delete/"' in page) is buttons
