"""Watching a rotation's traffic (services/rotation_watch.py), driven by real requests to the
sandbox's simulated inference with the old and the new key, and its clock."""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Rotation
from accounts.services.audit import audit_context_for_command
from accounts.services.rotation import RotationError, rotation_start
from accounts.services.rotation_watch import (
    rotation_extend_grace,
    rotation_finish_early,
    rotation_observe,
    rotations_finish_quiet,
)
from tests.fixtures.rotation import rotate

pytestmark = pytest.mark.django_db

State = Rotation.State


def test_the_old_key_keeps_working_in_grace_and_goes_once_the_app_switched_and_it_went_quiet(
    manager_context, admin_context, inference_key, app, clock, sandbox
):
    outcome = rotate(manager_context, inference_key, finish_when_quiet=True)
    assert app(inference_key.secret) == 200  # the app still has the old key: it works

    clock.advance(timedelta(minutes=10))
    assert app(outcome.secret) == 200  # the app switched
    traffic = rotation_observe(outcome.rotation, now=clock.now(), fresh=True)
    assert not traffic.quiet and traffic.old_still_used and traffic.new_in_use
    assert rotations_finish_quiet(context=admin_context, now=clock.now()) == []
    assert sandbox.find_key(inference_key.id) is not None

    clock.advance(timedelta(minutes=61))
    app(outcome.secret)
    # cron acts as the system, with no role of its own: the rotation's option is its warrant
    cron = audit_context_for_command(None, command="finish_rotations")
    (finished,) = rotations_finish_quiet(context=cron, now=clock.now())

    assert finished.state == State.COMPLETED
    assert sandbox.find_key(inference_key.id) is None
    assert app(outcome.secret) == 200
    record = AuditEvent.objects.get(action="key.rotation.finished_early")
    assert record.details["old_last_used_at"].startswith(
        (clock.now() - timedelta(minutes=71)).strftime("%Y-%m-%dT%H:%M")
    )
    assert record.details["new_last_used_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))
    finished.refresh_from_db()
    assert finished.switch_took == timedelta(0)  # the app moved at once: no overlap


def test_an_old_key_still_in_use_is_not_deleted_early(
    manager_context, admin_context, inference_key, app, clock, sandbox
):
    outcome = rotate(manager_context, inference_key, finish_when_quiet=True)
    app(outcome.secret)
    for _ in range(3):
        clock.advance(timedelta(minutes=50))
        app(inference_key.secret)  # a batch job nobody moved
        assert rotations_finish_quiet(context=admin_context, now=clock.now()) == []
    assert sandbox.find_key(inference_key.id) is not None
    with pytest.raises(RotationError, match="the old key was used under a minute ago"):
        rotation_finish_early(
            context=manager_context, rotation_id=outcome.rotation.pk, now=clock.now()
        )


def test_near_the_end_of_grace_with_the_old_key_in_use_the_page_offers_more_time(
    client, key_manager, manager_context, inference_key, app, clock
):
    ends = clock.now() + timedelta(minutes=30)
    rotation_start(
        context=manager_context, key_id=inference_key.id, grace="custom", grace_ends_at=ends
    )
    app(inference_key.secret)
    client.force_login(key_manager)

    page = unescape(client.get(reverse("keys:detail", args=[inference_key.id])).content.decode())

    assert "something still uses it" in page
    assert "The grace period ends within the hour and the old key is still in use." in page
    assert "Delete the old key now" not in page


def test_extending_grace_moves_the_old_keys_expiry_and_is_recorded(
    manager_context, inference_key, clock, sandbox
):
    outcome = rotate(manager_context, inference_key)
    until = outcome.rotation.retire_at + timedelta(hours=24)

    rotation = rotation_extend_grace(
        context=manager_context, rotation_id=outcome.rotation.pk, until=until, now=clock.now()
    )

    assert rotation.retire_at == until.replace(microsecond=0)
    assert sandbox.find_key(inference_key.id).expires_ms == int(
        rotation.retire_at.timestamp() * 1000
    )
    (record,) = AuditEvent.objects.filter(action="key.rotation.grace_extended")
    assert record.changes["expires_at"][1] == rotation.retire_at.isoformat()


def test_grace_is_never_extended_past_the_old_keys_own_expiry(
    manager_context, shared_venice, clock
):
    key = shared_venice.api_keys.create("Short", expires_at=clock.now() + timedelta(days=2))
    outcome = rotate(manager_context, key)
    with pytest.raises(RotationError, match="never makes it live longer"):
        rotation_extend_grace(
            context=manager_context,
            rotation_id=outcome.rotation.pk,
            until=clock.now() + timedelta(days=5),
            now=clock.now(),
        )


def test_the_key_page_shows_the_traffic_and_polls_it(
    client, key_manager, manager_context, inference_key, app, clock
):
    outcome = rotate(manager_context, inference_key)
    app(outcome.secret)
    client.force_login(key_manager)
    url = reverse("keys:rotation_traffic", args=[inference_key.id, outcome.rotation.pk])

    page = client.get(reverse("keys:detail", args=[inference_key.id])).content.decode()
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert f'hx-get="{url}" hx-trigger="every 30s"' in page
    assert "New key first seen" in fragment and "<html" not in fragment
    assert "Old key: never used." in fragment


def test_a_person_finishes_early_from_the_page_once_the_old_key_is_quiet(
    client, key_manager, manager_context, inference_key, app, clock, sandbox
):
    outcome = rotate(manager_context, inference_key)
    app(outcome.secret)
    rotation = outcome.rotation
    Rotation.objects.filter(pk=rotation.pk).update(created_at=clock.now() - timedelta(hours=2))
    client.force_login(key_manager)
    page = client.get(reverse("keys:detail", args=[inference_key.id])).content.decode()
    assert "Delete the old key now" in page

    client.post(reverse("keys:rotation_finish_early", args=[inference_key.id, rotation.pk]))

    assert sandbox.find_key(inference_key.id) is None
    rotation.refresh_from_db()
    assert rotation.state == State.COMPLETED
