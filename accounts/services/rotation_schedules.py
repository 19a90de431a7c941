"""Rotation on a schedule: "rotate this key every N days", started by `rotate_due` (cron).

A schedule rotates as its owner (the Administrator or Key manager who set it, with that
person's role checked at every run), with the grace period it names, and hands the new
secret to its sink (services/secret_sinks.py) before the old key is touched. After each
rotation the schedule follows the key: it names the replacement, due again `every` later.

Schedules are set by an operator with `manage.py rotation_schedule`, never from the web:
where a secret is written, which command or webhook receives it, is the server's business.
Each change is an audit record; the sink's target is stored encrypted and audited only as a
fingerprint. A webhook sink gets a signing secret of its own, shown once to the operator who
sets the schedule and kept while the webhook's URL stays the same.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import crypto
from accounts.delivery.webhooks import new_signing_secret
from accounts.models import AuditAction, AuditEvent, Rotation, RotationSchedule
from accounts.services.audit import AuditContext, audit_context_for_command, audit_log
from accounts.services.policies import ApprovalRequired, PolicyForbids
from accounts.services.rotation import (
    GRACE_PERIODS,
    RotationError,
    RotationRefused,
    may_rotate,
    rotation_start,
)
from accounts.services.secret_sinks import sink_signing_secret, sink_target
from accounts.venice import VeniceError, get_client

Grace = Rotation.Grace
Sink = RotationSchedule.Sink

SCHEDULE_GRACES = (Grace.HOUR, Grace.DAY, Grace.WEEK)
SHORTEST_EVERY = timedelta(days=1)
LEASE = timedelta(minutes=10)

SCHEDULE_KEY_NOT_FOUND = "Venice has no key with this id; it may have been deleted."
SCHEDULE_OWNER_MAY_NOT = "{owner} may not rotate this {key_type} key."
SCHEDULE_GRACE = "A scheduled rotation needs a grace period: 1h, 24h or 7d."
SCHEDULE_TOO_OFTEN = "Rotate at most once a day: --every must be 1d or longer."
SCHEDULE_EVERY_WITHIN_GRACE = (
    "--every must be longer than the grace period, or a rotation would be due while the last "
    "one is still in grace."
)
SCHEDULE_FILE_NOT_ABSOLUTE = "The sink's file must be an absolute path."
SCHEDULE_FILE_NO_DIRECTORY = "The sink's directory {directory} does not exist."
SCHEDULE_COMMAND_EMPTY = "The sink's command is empty."
SCHEDULE_COMMAND_NOT_FOUND = "The sink's command {program!r} was not found."
SCHEDULE_WEBHOOK_NOT_HTTPS = (
    "The sink's webhook must be an https:// URL with a host: a secret never travels in clear."
)
SCHEDULE_NONE = "This key has no rotation schedule."
RUN_OWNER_GONE = (
    "The schedule's owner {owner} is no longer an active member who may rotate this key: "
    "set the schedule again with another owner."
)
RUN_ROTATION_OPEN = "A rotation of this key is still open; the schedule waits for it to close."


class ScheduleError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ScheduleSaved:
    schedule: RotationSchedule
    # A webhook sink's signing secret when it is new (to be shown once), else "".
    new_signing_secret: str = ""


@dataclass(frozen=True)
class ScheduleRun:
    """What rotate_due did with one due schedule."""

    schedule: RotationSchedule
    rotation: Rotation | None
    message: str
    rotated: bool


def schedule_set(
    *,
    context: AuditContext,
    key_id: str,
    every: timedelta,
    grace: str,
    sink: str,
    target: str,
    finish_when_quiet: bool = False,
    quiet_period: timedelta = timedelta(hours=1),
    first_due_at: datetime | None = None,
) -> ScheduleSaved:
    """Create or change the schedule of a key, owned by the context's user.

    Raises ScheduleError, naming what is wrong, before anything is saved."""
    owner = context.user
    key = get_client().api_keys.get(key_id, fresh=True)
    if key is None:
        raise ScheduleError(SCHEDULE_KEY_NOT_FOUND)
    if not may_rotate(owner, key.api_key_type):
        raise ScheduleError(
            SCHEDULE_OWNER_MAY_NOT.format(owner=context.username, key_type=key.api_key_type)
        )
    if grace not in SCHEDULE_GRACES:
        raise ScheduleError(SCHEDULE_GRACE)
    if every < SHORTEST_EVERY:
        raise ScheduleError(SCHEDULE_TOO_OFTEN)
    if every <= GRACE_PERIODS[grace]:
        raise ScheduleError(SCHEDULE_EVERY_WITHIN_GRACE)
    _check_target(sink, target)

    now = timezone.now()
    fields = {
        "key_description": key.description,
        "every": every,
        "grace": grace,
        "finish_when_quiet": finish_when_quiet,
        "quiet_period": quiet_period,
        "sink": sink,
        "sink_target_encrypted": crypto.encrypt(target),
        "sink_secret_encrypted": "",
        "next_due_at": first_due_at or now + every,
        "owner": owner,
        "owner_username": context.username,
        "last_error": "",
    }
    new_secret = ""
    with transaction.atomic():
        before = RotationSchedule.objects.select_for_update().filter(key_id=key.id).first()
        if sink == Sink.WEBHOOK:
            kept = _kept_signing_secret(before, target)
            new_secret = "" if kept else new_signing_secret()
            fields["sink_secret_encrypted"] = kept or crypto.encrypt(new_secret)
        schedule, _ = RotationSchedule.objects.update_or_create(key_id=key.id, defaults=fields)
        audit_log(
            context,
            action=AuditAction.ROTATION_SCHEDULE_SET,
            key=key,
            changes=_changes(before, schedule, target),
            details=_audited(schedule, target),
        )
    return ScheduleSaved(schedule=schedule, new_signing_secret=new_secret)


def _kept_signing_secret(before: RotationSchedule | None, url: str) -> str:
    """The encrypted signing secret of the same webhook, so that changing a schedule's period
    does not break its receiver; "" when the webhook is new (or its secret unreadable)."""
    if before is None or before.sink != Sink.WEBHOOK or not before.sink_secret_encrypted:
        return ""
    if sink_target(before) != url or not sink_signing_secret(before):
        return ""
    return before.sink_secret_encrypted


def schedule_remove(*, context: AuditContext, key_id: str) -> None:
    with transaction.atomic():
        schedule = RotationSchedule.objects.select_for_update().filter(key_id=key_id).first()
        if schedule is None:
            raise ScheduleError(SCHEDULE_NONE)
        audit_log(
            context,
            action=AuditAction.ROTATION_SCHEDULE_REMOVED,
            key_id=schedule.key_id,
            description=schedule.key_description,
            last6=_last6_on_record(schedule.key_id),
            details=_audited(schedule, sink_target(schedule)),
        )
        schedule.delete()


def schedules_due(now: datetime | None = None) -> list[RotationSchedule]:
    now = now or timezone.now()
    return list(RotationSchedule.objects.filter(next_due_at__lte=now))


def rotate_due(*, now: datetime | None = None, limit: int = 50) -> list[ScheduleRun]:
    """Rotate every key whose schedule is due (for cron, hourly).

    Safe to run concurrently: each schedule is claimed with a conditional update (after
    `SELECT ... FOR UPDATE SKIP LOCKED` where the database has it), so two runs never rotate
    the same key; the partial unique index on open rotations is the last word besides. A
    schedule that cannot run keeps its due time and says why in `last_error`."""
    now = now or timezone.now()
    with transaction.atomic():
        candidates = list(
            RotationSchedule.objects.select_for_update(skip_locked=True)
            .filter(next_due_at__lte=now)
            .filter(_lease_free())
            .values_list("pk", flat=True)[:limit]
        )
    runs = []
    for pk in candidates:
        claimed = (
            RotationSchedule.objects.filter(pk=pk, next_due_at__lte=now)
            .filter(_lease_free())
            .update(lease_until=timezone.now() + LEASE)
        )
        if claimed:
            schedule = RotationSchedule.objects.get(pk=pk)
            runs.append(_run_one(schedule, now=now))
    return runs


def _run_one(schedule: RotationSchedule, *, now: datetime) -> ScheduleRun:
    owner = schedule.owner
    if owner is None or not owner.is_active:
        return _not_run(schedule, RUN_OWNER_GONE.format(owner=schedule.owner_username))
    if Rotation.objects.filter(old_key_id=schedule.key_id, state__in=Rotation.OPEN_STATES).exists():
        return _not_run(schedule, RUN_ROTATION_OPEN)
    context = audit_context_for_command(owner, command="rotate_due")
    try:
        outcome = rotation_start(
            context=context,
            key_id=schedule.key_id,
            grace=schedule.grace,
            now=now,
            finish_when_quiet=schedule.finish_when_quiet,
            quiet_period=schedule.quiet_period,
            schedule=schedule,
        )
    except RotationRefused:
        return _not_run(schedule, RUN_OWNER_GONE.format(owner=schedule.owner_username))
    except (RotationError, ApprovalRequired, PolicyForbids) as refused:
        return _not_run(schedule, refused.message)
    except VeniceError as error:
        return _not_run(schedule, error.user_message)

    rotation = outcome.rotation
    if rotation.secret_delivered_at is None:
        return _not_run(schedule, outcome.error.user_message, rotation=rotation)
    # The sink has the new secret: the schedule follows the key to its replacement.
    _save(
        schedule,
        key_id=rotation.new_key_id,
        key_description=rotation.new_description,
        last_rotated_at=now,
        next_due_at=now + schedule.every,
        last_error="" if outcome.ok else outcome.error.user_message,
        lease_until=None,
    )
    message = f"{rotation.old_key_id}: rotated; the new key is {rotation.new_key_id}"
    if not outcome.ok:
        message += f" (then: {outcome.error.user_message})"
    return ScheduleRun(schedule=schedule, rotation=rotation, message=message, rotated=True)


def _not_run(schedule: RotationSchedule, message: str, *, rotation=None) -> ScheduleRun:
    _save(schedule, last_error=message, lease_until=None)
    return ScheduleRun(schedule=schedule, rotation=rotation, message=message, rotated=False)


def _save(schedule: RotationSchedule, **fields) -> None:
    for name, value in fields.items():
        setattr(schedule, name, value)
    schedule.save(update_fields=[*fields, "updated_at"])


def _lease_free() -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())


def _check_target(sink: str, target: str) -> None:
    if sink == Sink.FILE:
        path = Path(target)
        if not path.is_absolute():
            raise ScheduleError(SCHEDULE_FILE_NOT_ABSOLUTE)
        if not path.parent.is_dir():
            raise ScheduleError(SCHEDULE_FILE_NO_DIRECTORY.format(directory=path.parent))
        return
    if sink == Sink.WEBHOOK:
        url = urlsplit(target)
        if url.scheme != "https" or not url.hostname:
            raise ScheduleError(SCHEDULE_WEBHOOK_NOT_HTTPS)
        return
    argv = shlex.split(target)
    if not argv:
        raise ScheduleError(SCHEDULE_COMMAND_EMPTY)
    if shutil.which(argv[0]) is None:
        raise ScheduleError(SCHEDULE_COMMAND_NOT_FOUND.format(program=argv[0]))


def _last6_on_record(key_id: str) -> str:
    """The key's last 6 as the newest record naming the key has it, for the removal's record
    (the audit log tells keys apart by it). A schedule keeps only its key's id and
    description, and removing one needs no Venice; the record that set the schedule, or the
    rotation that moved it to this key, always has the last 6."""
    named = AuditEvent.objects.filter(key_id=key_id).exclude(key_last6="").order_by("-id")
    return named.values_list("key_last6", flat=True).first() or ""


def target_fingerprint(target: str) -> str:
    """Which target, for the audit log, without saying where secrets go."""
    return hashlib.sha256(target.encode()).hexdigest()[:16]


def _audited(schedule: RotationSchedule, target: str) -> dict:
    return {
        "every": str(schedule.every),
        "grace": schedule.grace,
        "finish_when_quiet": schedule.finish_when_quiet,
        "sink": schedule.sink,
        "sink_fingerprint": target_fingerprint(target),
        "owner": schedule.owner_username,
        "next_due_at": schedule.next_due_at.isoformat(),
    }


def _changes(before: RotationSchedule | None, after: RotationSchedule, target: str) -> dict:
    if before is None:
        return {}
    old = _audited(before, sink_target(before))
    new = _audited(after, target)
    return {name: [old[name], new[name]] for name in new if old[name] != new[name]}
