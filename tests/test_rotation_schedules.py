"""Rotation on a schedule (services/rotation_schedules.py, manage.py rotation_schedule and
rotate_due) with real sinks: a file in a temporary directory, and real commands run by the
operating system; the keys live in the sandbox, reached over HTTP."""

import json
import os
import re
import stat
import sys
import threading
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Rotation, RotationSchedule
from accounts.presentation.audit import audit_sentence
from accounts.roles import FINANCE
from accounts.services.audit import audit_context_for_command
from accounts.services.members import member_role_change
from accounts.services.rotation import (
    ROTATION_UNDELIVERED,
    RotationError,
    rotation_finish_due,
    rotation_resume,
)
from accounts.services.rotation_schedules import (
    RUN_OWNER_GONE,
    SCHEDULE_EVERY_WITHIN_GRACE,
    SCHEDULE_GRACE,
    rotate_due,
)
from accounts.services.secret_sinks import sink_signing_secret, sink_target
from tests.fixtures.audit import postgres_only
from tests.fixtures.rotation import run_rotate_due, set_schedule

pytestmark = pytest.mark.django_db

State = Rotation.State


def _chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return "Audit chain intact" in out.getvalue()


def _everything_stored() -> str:
    """Every row the portal keeps, as text, to look for a secret in."""
    with connection.cursor() as cursor:
        rows = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - the tables' own names
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def test_a_due_schedule_rotates_its_key_and_writes_the_new_secret_to_its_file(
    key_manager, inference_key, sink_file, authenticates, sandbox
):
    sink_file.parent.mkdir()
    sink_file.write_text(f"{inference_key.secret}\n")
    set_schedule(inference_key.id, file=str(sink_file))

    out, err = run_rotate_due()

    assert "1 key(s) rotated, 0 not" in out, err
    rotation = Rotation.objects.get()
    assert rotation.state == State.GRACE and rotation.secret_delivered_at is not None
    new_secret = sink_file.read_text().strip()
    assert new_secret != inference_key.secret and authenticates(new_secret)
    assert sandbox.find_key(rotation.new_key_id) is not None
    assert stat.S_IMODE(sink_file.stat().st_mode) == 0o600
    # The service that has not reloaded yet still finds the old secret, which still works.
    previous = sink_file.with_name("billing-worker.key.previous")
    assert previous.read_text().strip() == inference_key.secret
    assert authenticates(inference_key.secret)
    assert [p.name for p in sink_file.parent.iterdir() if p.name.endswith(".tmp")] == []
    # The schedule follows the key to its replacement, due again a period later.
    schedule = RotationSchedule.objects.get()
    assert schedule.key_id == rotation.new_key_id
    assert schedule.next_due_at > timezone.now() + timedelta(days=29)
    started = AuditEvent.objects.get(action="key.rotation.started")
    assert (started.actor_username, started.details["schedule"]) == ("kim", schedule.pk)
    delivered = AuditEvent.objects.get(action="key.rotation.secret_delivered")
    assert delivered.key_id == rotation.new_key_id and delivered.details["sink"] == "file"

    # The grace period ends: the old key goes, and so does its secret's file.
    rotation_finish_due(context=_system(), now=rotation.retire_at + timedelta(seconds=1))
    assert not authenticates(inference_key.secret)
    assert not previous.exists() and sink_file.read_text().strip() == new_secret
    assert _chain_intact()
    stored = _everything_stored()
    assert new_secret not in stored and inference_key.secret not in stored
    assert str(sink_file) not in stored  # the target is stored encrypted, audited as a hash


def test_a_command_sink_gets_the_secret_on_standard_input_never_in_its_arguments(
    key_manager, inference_key, tmp_path, authenticates
):
    seen = tmp_path / "seen.json"
    script = tmp_path / "receive.py"
    script.write_text(
        "import json, os, sys\n"
        f"json.dump({{'stdin': sys.stdin.read(), 'argv': sys.argv, 'env': dict(os.environ)}}, "
        f"open({str(seen)!r}, 'w'))\n"
    )
    set_schedule(inference_key.id, command=f"{sys.executable} {script} --store vault")

    out, err = run_rotate_due()

    assert "1 key(s) rotated" in out, err
    received = json.loads(seen.read_text())
    secret = received["stdin"].strip()
    assert authenticates(secret) and secret != inference_key.secret
    assert received["argv"][1:] == ["--store", "vault"]
    assert secret not in json.dumps(received["env"])
    assert secret not in _everything_stored()


def test_a_sink_that_fails_aborts_the_rotation_and_leaves_the_old_key_alone(
    key_manager, inference_key, sandbox, authenticates, caplog
):
    # The command repeats what it read on its error output: the message must not.
    set_schedule(inference_key.id, command="sh -c 'cat >&2; exit 3'")
    due_before = RotationSchedule.objects.get().next_due_at

    out, err = run_rotate_due()

    assert "0 key(s) rotated, 1 not" in out
    assert "exited with status 3" in err and "[redacted]" in err
    rotation = Rotation.objects.get()
    assert rotation.state == State.ABORTED and rotation.replacement_deleted_at is not None
    assert sandbox.find_key(rotation.new_key_id) is None  # nobody had its secret
    assert authenticates(inference_key.secret)
    assert sandbox.find_key(inference_key.id).expires_ms is None  # no grace was set
    schedule = RotationSchedule.objects.get()
    assert schedule.key_id == inference_key.id and schedule.next_due_at == due_before
    assert "exited with status 3" in schedule.last_error
    failed = AuditEvent.objects.get(action="key.rotation.secret_delivered")
    assert failed.outcome == "failed" and "[redacted]" in failed.error
    assert AuditEvent.objects.filter(action="key.rotation.aborted").exists()
    assert _chain_intact()
    assert all(inference_key.secret not in message for message in caplog.messages)


def _signing_secret(set_output: str) -> str:
    return re.search(r"(whsec_\S+)", set_output).group(1)


def test_a_webhook_sink_gets_the_secret_signed_over_https_and_nothing_keeps_it(
    key_manager, inference_key, https_webhook_receiver, authenticates, caplog
):
    receiver = https_webhook_receiver
    receiver.secret = _signing_secret(set_schedule(inference_key.id, webhook=receiver.url))

    out, err = run_rotate_due()

    assert "1 key(s) rotated" in out, err
    [received] = receiver.received
    assert received.signature_ok and received.fresh
    assert received.headers["x-portal-event"] == "key.rotated"
    body = received.json
    rotation = Rotation.objects.get()
    assert body["key"]["id"] == rotation.new_key_id and body["rotation"] == rotation.pk
    assert body["replaces"] == {"id": inference_key.id, "last6": inference_key.last6}
    assert body["old_key_retires_at"] == rotation.retire_at.isoformat()
    secret = body["key"]["secret"]
    assert authenticates(secret) and authenticates(inference_key.secret)  # in grace
    delivered = AuditEvent.objects.get(action="key.rotation.secret_delivered")
    assert delivered.outcome == "succeeded" and delivered.details["sink"] == "webhook"
    assert "to the rotation schedule's webhook" in audit_sentence(delivered)
    scheduled = AuditEvent.objects.get(action="key.rotation.schedule_set")
    assert "the new secret to a webhook" in audit_sentence(scheduled)
    stored = _everything_stored()
    assert secret not in stored and receiver.secret not in stored
    assert receiver.url not in stored and "very-secret-path" not in stored
    assert all(secret not in m and "very-secret-path" not in m for m in caplog.messages)


@pytest.mark.parametrize(
    ("answer", "trusted", "said"),
    [(500, True, "answered 500"), (200, False, "the TLS handshake failed")],
)
def test_a_webhook_sink_that_fails_or_is_not_trusted_aborts_the_rotation(
    settings,
    key_manager,
    inference_key,
    https_webhook_receiver,
    authenticates,
    answer,
    trusted,
    said,
):
    set_schedule(inference_key.id, webhook=https_webhook_receiver.url)
    https_webhook_receiver.answer(answer)
    if not trusted:
        settings.PORTAL_WEBHOOK_CA_BUNDLE = ""  # certifi's authorities know no test CA

    out, err = run_rotate_due()

    assert "0 key(s) rotated, 1 not" in out and said in err
    assert "very-secret-path" not in err  # a webhook's URL is a credential too
    assert Rotation.objects.get().state == State.ABORTED
    assert authenticates(inference_key.secret)
    assert said in RotationSchedule.objects.get().last_error


def test_a_webhook_sink_must_be_https_and_keeps_its_signing_secret_while_its_url_does(
    key_manager, inference_key, https_webhook_receiver
):
    plain = https_webhook_receiver.url.replace("https://", "http://")
    with pytest.raises(CommandError, match="must be an https:// URL"):
        set_schedule(inference_key.id, webhook=plain)

    first = _signing_secret(set_schedule(inference_key.id, webhook=https_webhook_receiver.url))
    again = set_schedule(inference_key.id, webhook=https_webhook_receiver.url, every="60d")
    assert "whsec_" not in again  # the receiver's secret still holds
    assert sink_signing_secret(RotationSchedule.objects.get()) == first
    moved = set_schedule(inference_key.id, webhook=https_webhook_receiver.url + "/v2")
    assert _signing_secret(moved) not in (first, "")
    listed = StringIO()
    call_command("rotation_schedule", "list", stdout=listed)
    assert "whsec_" not in listed.getvalue() and "very-secret-path" not in listed.getvalue()


def test_a_replacement_nobody_received_can_only_be_aborted(
    key_manager, manager_context, inference_key, sandbox, authenticates
):
    # The sink fails, and so does deleting the replacement: Venice refuses deletes.
    set_schedule(inference_key.id, command="false")
    fault = sandbox.faults.inject("/api_keys", "DELETE", status=503)

    run_rotate_due()

    rotation = Rotation.objects.get()
    assert rotation.state == State.FAILED and rotation.awaits_delivery
    assert not rotation.resumable
    with pytest.raises(RotationError, match="can only be aborted"):
        rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert ROTATION_UNDELIVERED.startswith("The new key's secret never reached")
    assert authenticates(inference_key.secret)
    assert "Abort this rotation" in RotationSchedule.objects.get().last_error

    sandbox.faults.remove(fault)
    out, err = run_rotate_due()
    assert "still open" in err  # the schedule waits for the open rotation


def test_nothing_is_rotated_before_its_time_and_a_dry_run_changes_nothing(
    key_manager, inference_key, sink_file
):
    sink_file.parent.mkdir()
    set_schedule(inference_key.id, due_now=False, file=str(sink_file))
    assert run_rotate_due()[0].strip() == "Nothing is due."

    RotationSchedule.objects.update(next_due_at=timezone.now() - timedelta(hours=3))
    out = StringIO()
    call_command("rotate_due", "--dry-run", stdout=out)
    assert "would rotate as kim" in out.getvalue() and "1 schedule(s) due" in out.getvalue()
    assert not Rotation.objects.exists() and not sink_file.exists()
    assert RotationSchedule.objects.get().is_overdue()


def test_a_schedule_whose_owner_lost_the_right_to_rotate_stops_and_says_why(
    key_manager, inference_key, sink_file
):
    sink_file.parent.mkdir()
    set_schedule(inference_key.id, file=str(sink_file))
    member_role_change(context=_system(), member=key_manager, role=FINANCE)

    out, err = run_rotate_due()

    assert not Rotation.objects.exists()
    assert RotationSchedule.objects.get().last_error == RUN_OWNER_GONE.format(owner="kim")
    assert "no longer an active member who may rotate" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grace": "now"}, SCHEDULE_GRACE),
        ({"every": "12h"}, "at most once a day"),
        ({"every": "2d", "grace": "7d"}, SCHEDULE_EVERY_WITHIN_GRACE),
        ({"file": "relative/key"}, "absolute path"),
        ({"file": "/nonexistent-directory/key"}, "does not exist"),
        ({"command": "no-such-program --x"}, "'no-such-program' was not found"),
    ],
)
def test_setting_a_schedule_names_what_is_wrong(key_manager, inference_key, options, message):
    if "command" not in options:
        options.setdefault("file", "/tmp/key")
    with pytest.raises(CommandError) as refused:
        set_schedule(inference_key.id, **options)
    assert message in str(refused.value)
    assert not RotationSchedule.objects.exists()


def test_only_someone_who_may_rotate_the_key_can_own_its_schedule(finance_user, inference_key):
    with pytest.raises(CommandError, match="may not rotate this INFERENCE key"):
        set_schedule(inference_key.id, owner=finance_user.username, file="/tmp/key")


def test_setting_and_removing_a_schedule_are_on_the_chain(key_manager, inference_key, tmp_path):
    set_schedule(inference_key.id, due_now=False, file=str(tmp_path / "a.key"))
    set_schedule(inference_key.id, due_now=False, every="60d", file=str(tmp_path / "b.key"))
    call_command(
        "rotation_schedule", "remove", inference_key.id, "--actor", "kim", stdout=StringIO()
    )

    first, second = AuditEvent.objects.filter(action="key.rotation.schedule_set").order_by("pk")
    assert first.details["every"] == "30 days, 0:00:00" and first.changes == {}
    assert set(second.changes) >= {"every", "sink_fingerprint"}
    removed = AuditEvent.objects.get(action="key.rotation.schedule_removed")
    assert removed.key_id == inference_key.id and removed.actor_username == "kim"
    assert not RotationSchedule.objects.exists()
    assert str(tmp_path) not in _everything_stored()
    assert _chain_intact()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_rotate_due_runs_at_once_rotate_a_key_once(key_manager, inference_key, sink_file):
    sink_file.parent.mkdir()
    set_schedule(inference_key.id, file=str(sink_file))
    barrier = threading.Barrier(2)
    runs = []

    def run():
        try:
            barrier.wait()
            runs.extend(rotate_due())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Rotation.objects.count() == 1
    assert sum(run.rotated for run in runs) == 1
    assert AuditEvent.objects.filter(action="key.rotation.secret_delivered").count() == 1


def _system():
    return audit_context_for_command(None, command="finish_rotations")


def test_the_sink_file_is_never_world_readable_even_for_a_moment(
    key_manager, inference_key, sink_file
):
    sink_file.parent.mkdir()
    old_umask = os.umask(0)  # the most permissive process there is
    try:
        set_schedule(inference_key.id, file=str(sink_file))
        run_rotate_due()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(sink_file.stat().st_mode) == 0o600


def test_the_key_page_shows_the_schedule_and_the_list_flags_it_when_overdue(
    key_manager, inference_key, sink_file, client
):
    sink_file.parent.mkdir()
    set_schedule(inference_key.id, due_now=False, every="90d", file=str(sink_file))
    client.force_login(key_manager)

    page = client.get(reverse("keys:detail", args=[inference_key.id])).content.decode()
    assert "Rotated every 90 days by a schedule (as kim" in page
    assert str(sink_file) not in page  # where secrets go is the server's business
    listing = client.get(reverse("keys:list")).content.decode()
    assert "rotation overdue" not in listing

    RotationSchedule.objects.update(
        next_due_at=timezone.now() - timedelta(hours=3), last_error="Venice is unreachable."
    )
    page = client.get(reverse("keys:detail", args=[inference_key.id])).content.decode()
    assert "rotation overdue" in page and "Last run: Venice is unreachable." in page
    assert "rotation overdue" in client.get(reverse("keys:list")).content.decode()


def test_reencrypt_secrets_moves_a_schedules_destination_to_the_new_key(
    settings, key_manager, inference_key, sink_file
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_ENCRYPTION_KEY = old
    sink_file.parent.mkdir()
    set_schedule(inference_key.id, file=str(sink_file))
    settings.PORTAL_ENCRYPTION_KEY = f"{new},{old}"  # the new key first, the old one kept
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "1 secret(s) rewritten with the first key." in out.getvalue()

    settings.PORTAL_ENCRYPTION_KEY = new  # the old key dropped: the destination still reads
    assert sink_target(RotationSchedule.objects.get()) == str(sink_file)
    settings.PORTAL_ENCRYPTION_KEY = old
    with pytest.raises(InvalidToken):
        sink_target(RotationSchedule.objects.get())
