"""manage.py rotate_key: the same service and audit records as the page; the secret only
where asked."""

import stat
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.management.commands.rotate_key import DESTINATION_REQUIRED
from accounts.models import AuditEvent, Rotation
from accounts.services.rotation import ROTATION_ADMIN_KEY_REFUSED

pytestmark = pytest.mark.django_db

State = Rotation.State


def _run(*args):
    out, err = StringIO(), StringIO()
    call_command("rotate_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_secret_goes_to_a_new_file_readable_only_by_its_owner(
    key_manager, inference_key, tmp_path, authenticates, all_logs, database_text
):
    path = tmp_path / "new.key"
    out, err = _run(inference_key.id, "--grace", "24h", "--actor", "kim", "--secret-to", str(path))
    secret = path.read_text().strip()
    assert path.read_text() == f"{secret}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert authenticates(secret)
    assert secret not in out + err
    assert secret not in all_logs.text and secret not in database_text()
    rotation = Rotation.objects.get()
    assert rotation.state == State.GRACE and rotation.started_by == key_manager
    assert f"Rotation {rotation.pk}" in out and str(path) in out


def test_the_command_writes_the_same_audit_records_as_the_page(
    key_manager, inference_key, tmp_path
):
    _run(inference_key.id, "--grace", "1h", "--actor", "kim", "--secret-to", str(tmp_path / "k"))
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "key.rotation.started",
        "key.rotation.replacement_created",
        "key.rotation.old_key_scheduled",
    ]
    for event in events:
        assert (event.actor_username, event.actor_role) == ("kim", "Key manager")
        assert event.ip is None
        assert event.user_agent == "manage.py rotate_key"
        assert event.outcome == "succeeded"
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue()


def test_an_existing_file_is_never_overwritten_and_nothing_changes(
    key_manager, inference_key, tmp_path, sandbox
):
    path = tmp_path / "taken.key"
    path.write_text("keep me\n")
    with pytest.raises(CommandError, match="already exists"):
        _run(inference_key.id, "--grace", "24h", "--actor", "kim", "--secret-to", str(path))
    assert path.read_text() == "keep me\n"
    assert not Rotation.objects.exists() and not AuditEvent.objects.exists()


def test_without_a_destination_for_the_secret_nothing_happens(key_manager, inference_key):
    with pytest.raises(CommandError) as refused:
        _run(inference_key.id, "--grace", "24h", "--actor", "kim")
    assert str(refused.value) == DESTINATION_REQUIRED
    assert not Rotation.objects.exists()


def test_the_secret_is_printed_only_when_asked(key_manager, inference_key, authenticates):
    out, _ = _run(inference_key.id, "--grace", "now", "--actor", "kim", "--print-secret")
    secret = out.splitlines()[0]
    assert authenticates(secret)
    assert Rotation.objects.get().state == State.COMPLETED
    assert "the old key is deleted" in out


def test_a_refused_rotation_leaves_no_empty_secret_file(key_manager, admin_api_key, tmp_path):
    path = tmp_path / "admin.key"
    with pytest.raises(CommandError) as refused:
        _run(admin_api_key.id, "--grace", "24h", "--actor", "kim", "--secret-to", str(path))
    assert str(refused.value) == ROTATION_ADMIN_KEY_REFUSED
    assert not path.exists()


def test_a_failed_step_still_saves_the_secret_and_exits_non_zero(
    key_manager, inference_key, tmp_path, sandbox, authenticates
):
    sandbox.faults.inject("/api_keys", "PATCH", status=500)
    path = tmp_path / "new.key"
    with pytest.raises(CommandError, match="failed while retiring the old key"):
        _run(inference_key.id, "--grace", "24h", "--actor", "kim", "--secret-to", str(path))
    assert authenticates(path.read_text().strip())
    assert Rotation.objects.get().state == State.FAILED


def test_expiry_and_custom_grace_reach_venice(key_manager, inference_key, tmp_path, sandbox):
    ends = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    _run(
        inference_key.id,
        "--grace",
        ends.isoformat(),
        "--expires-at",
        "2031-01-31",
        "--actor",
        "kim",
        "--secret-to",
        str(tmp_path / "k"),
    )
    rotation = Rotation.objects.get()
    assert (rotation.grace, rotation.retire_at) == ("custom", ends)
    posted = [r for r in sandbox.received if r.method == "POST" and r.path == "/api_keys"][-1]
    assert posted.json["expiresAt"].startswith("2031-01-31")


def test_an_unknown_actor_is_refused(inference_key, tmp_path):
    with pytest.raises(CommandError, match='No active user named "ghost"'):
        _run(inference_key.id, "--grace", "24h", "--actor", "ghost", "--print-secret")


def test_a_bad_grace_is_refused(key_manager, inference_key):
    with pytest.raises(CommandError, match="Unknown grace period"):
        _run(inference_key.id, "--grace", "soonish", "--actor", "kim", "--print-secret")


def test_the_new_key_keeps_the_old_keys_lifetime_unless_expires_at_says_never(
    key_manager, shared_venice, tmp_path
):
    old = shared_venice.api_keys.create("Expiring job", expires_at=timezone.now() + timedelta(7))
    _run(old.id, "--grace", "1h", "--actor", "kim", "--secret-to", str(tmp_path / "a"))
    first = Rotation.objects.get()
    assert first.new_expires_at is not None
    assert shared_venice.api_keys.get(first.new_key_id, fresh=True).expires_at is not None

    _run(
        *(first.new_key_id, "--grace", "1h", "--actor", "kim", "--expires-at", "never"),
        *("--secret-to", str(tmp_path / "b")),
    )
    second = Rotation.objects.exclude(pk=first.pk).get()
    assert second.new_expires_at is None
    assert shared_venice.api_keys.get(second.new_key_id, fresh=True).expires_at is None


@pytest.mark.django_db(transaction=True)
def test_a_database_error_after_the_create_still_leaves_the_secret_in_its_file(
    key_manager, inference_key, tmp_path, authenticates, database_fails
):
    path = tmp_path / "new.key"

    def the_next_steps_record(sql, params):
        return sql.startswith('INSERT INTO "accounts_auditevent"') and (
            "key.rotation.old_key_scheduled" in params
        )

    with pytest.raises(CommandError, match="database"), database_fails(the_next_steps_record):
        _run(inference_key.id, "--grace", "1h", "--actor", "kim", "--secret-to", str(path))
    assert authenticates(path.read_text().strip())
    assert authenticates(inference_key.secret)
