"""manage.py finish_rotations: cron's half of a grace period, and the age policy."""

import stat
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditEvent, Rotation
from accounts.services.rotation import rotation_start

pytestmark = pytest.mark.django_db

State = Rotation.State


def _run(*args):
    out, err = StringIO(), StringIO()
    call_command("finish_rotations", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _deletes(sandbox):
    return [r for r in sandbox.received if r.method == "DELETE" and r.path == "/api_keys"]


@pytest.fixture
def due_rotation(manager_context, inference_key):
    """A rotation whose grace period ended a minute ago (as if an hour had passed)."""
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    Rotation.objects.filter(pk=rotation.pk).update(retire_at=timezone.now() - timedelta(minutes=1))
    return rotation


def test_it_deletes_old_keys_whose_grace_ended_and_records_each(
    due_rotation, shared_venice, sandbox
):
    out, _ = _run()
    due_rotation.refresh_from_db()
    assert due_rotation.state == State.COMPLETED
    assert shared_venice.api_keys.get(due_rotation.old_key_id) is None
    assert f"Rotation {due_rotation.pk}: deleted old key" in out
    assert "1 rotation(s) finished, 0 failed." in out
    deleted = AuditEvent.objects.get(action="key.rotation.old_key_deleted")
    assert (deleted.actor_username, deleted.user_agent) == ("", "manage.py finish_rotations")
    assert AuditEvent.objects.get(action="key.rotation.completed").outcome == "succeeded"


def test_running_it_again_deletes_nothing_twice(due_rotation, sandbox):
    _run()
    out, _ = _run()
    assert "nothing to do" in out
    assert len(_deletes(sandbox)) == 1
    assert AuditEvent.objects.filter(action="key.rotation.old_key_deleted").count() == 1


def test_a_grace_period_still_running_is_left_alone(manager_context, inference_key, sandbox):
    rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    out, _ = _run()
    assert "nothing to do" in out
    assert not _deletes(sandbox)


def test_a_failed_delete_exits_non_zero_and_says_why(due_rotation, sandbox):
    sandbox.faults.inject("/api_keys", "DELETE", status=500)
    with pytest.raises(CommandError, match="1 rotation\\(s\\) failed"):
        _run()
    due_rotation.refresh_from_db()
    assert due_rotation.state == State.FAILED


def test_the_actor_can_be_named(due_rotation, admin_user):
    _run("--actor", "ada")
    deleted = AuditEvent.objects.get(action="key.rotation.old_key_deleted")
    assert (deleted.actor_username, deleted.actor_role) == ("ada", "Administrator")


def test_the_policy_lists_keys_older_than_its_age(inference_key, sandbox):
    out, _ = _run("--older-than", "90d")
    assert "Production backend" in out  # seeded a year ago
    assert inference_key.id not in out  # created just now
    assert "rerun with --apply" in out
    assert not Rotation.objects.exists()


def test_applying_the_policy_needs_an_actor_and_a_place_for_the_secrets(sandbox):
    with pytest.raises(CommandError, match="--apply needs --actor and --secrets-dir"):
        _run("--older-than", "90d", "--apply")


def test_applying_the_policy_rotates_what_the_actor_may_and_saves_each_secret(
    key_manager, shared_venice, tmp_path, authenticates
):
    out, _ = _run(
        "--older-than", "300d", "--apply", "--actor", "kim", "--secrets-dir", str(tmp_path)
    )
    rotations = list(Rotation.objects.all())
    assert rotations and all(r.old_key_type == "INFERENCE" for r in rotations)
    assert all(r.state == State.GRACE for r in rotations)
    for rotation in rotations:
        path = tmp_path / f"{rotation.new_key_id}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert authenticates(path.read_text().strip())
    assert "skipped: the portal's own ADMIN key" in out
    assert f"{len(rotations)} key(s) rotated" in out
