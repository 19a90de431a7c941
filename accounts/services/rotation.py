"""Key rotation: replace a Venice key, show the new secret once, retire the old key.

The workflow is dual-phase and every step is audited before it calls Venice:

    started ─create replacement─▶ replacement_created ─delete old key─▶ completed
                                         │
                                         └─PATCH old expiresAt─▶ grace ─(cron) delete─▶ completed

A failing step moves the rotation to `failed` (remembering the step in `failed_step`); from
there `rotation_resume` retries that step and `rotation_abort` closes the rotation. A failed
rotation stays *open*: it holds the key, so a second rotation cannot start beside it (the
database's partial unique index decides, also when two requests race).

Upstream calls never run inside a database transaction: each step's audit record commits
before the call, and a rotation row is held by a short lease (`lease_until`) rather than a row
lock while a step talks to Venice. A process that dies mid-step leaves the lease to run out,
after which the rotation can be resumed or aborted.

The new key's secret travels only in the `RotationOutcome` a call returns; it is never stored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AuditAction, AuditOutcome, Rotation, RotationSchedule
from accounts.presentation import dates
from accounts.selectors.audit import (
    audit_keys_made_only_by_rotation_attempt,
    audit_unrecorded_keys,
)
from accounts.services import secret_sinks
from accounts.services.approvals import approval_details
from accounts.services.audit import SECRET_LOST, AuditContext, audit_log, audited
from accounts.services.key_ownership import check_key_in_scope, ownership_follow_rotation
from accounts.services.keys import create_may_have_happened, may_manage_key_type
from accounts.services.policies import enforce, policy_check_rotation
from accounts.venice import UNSET, APIKey, APIKeyType, NotFoundError, VeniceError, get_client
from accounts.venice.client import _Unset

logger = logging.getLogger(__name__)

State = Rotation.State
Grace = Rotation.Grace

ACTION_STARTED = AuditAction.ROTATION_STARTED
ACTION_REPLACEMENT_CREATED = AuditAction.ROTATION_REPLACEMENT_CREATED
ACTION_OLD_KEY_SCHEDULED = AuditAction.ROTATION_OLD_KEY_SCHEDULED
ACTION_OLD_KEY_DELETED = AuditAction.ROTATION_OLD_KEY_DELETED
ACTION_COMPLETED = AuditAction.ROTATION_COMPLETED
ACTION_FAILED = AuditAction.ROTATION_FAILED
ACTION_ABORTED = AuditAction.ROTATION_ABORTED
ACTION_SECRET_DELIVERED = AuditAction.ROTATION_SECRET_DELIVERED
ACTION_KEY_DELETED = AuditAction.KEY_DELETED

# Error texts (tests reuse them).
ROTATION_ALREADY_OPEN = (
    "This key already has a rotation in progress. Resume or abort it on the key's page "
    "before starting another."
)
ROTATION_KEY_NOT_FOUND = "Venice has no key with this id; it may have been deleted."
ROTATION_NOT_FOUND = "There is no such rotation."
ROTATION_ADMIN_KEY_REFUSED = "Only Administrators may rotate ADMIN keys."
ROTATION_REFUSED = "Your role does not allow rotating keys."
ROTATION_BUSY = (
    "Another request is working on this rotation right now. Reload the page in a minute."
)
ROTATION_NOT_RESUMABLE = "This rotation is {state}; there is nothing to resume."
ROTATION_GRACE_NOT_OVER = (
    "This rotation is waiting for its grace period to end ({retire_at}); "
    "the old key is deleted then."
)
ROTATION_NOT_ABORTABLE = "This rotation is {state}; it can no longer be aborted."
ROTATION_ABORT_WOULD_LEAVE_NO_KEY = (
    "The old key is already deleted, so the replacement is the only key left: it cannot be "
    "deleted by aborting. Resume the rotation instead."
)
ROTATION_PORTAL_KEY_NOW = (
    "This is the ADMIN key the portal itself uses: deleting it now would lock the portal out. "
    "Choose a grace period, and put the new key in VENICE_API_KEY before it ends."
)
ROTATION_OLD_KEY_GONE = (
    "The old key no longer exists in Venice, so its settings cannot be copied to a "
    "replacement. Abort this rotation."
)
ROTATION_REPLACEMENT_GONE = (
    "The replacement key is gone from Venice, so the portal did not delete the old key: "
    "it will not leave the account without either. Abort this rotation and rotate again."
)
ROTATION_PORTAL_KEY_STILL_USED = (
    "The portal itself still calls Venice with the old key, so it was not deleted: put the new "
    "key in VENICE_API_KEY, restart the portal, then resume this rotation."
)
ROTATION_STEP_NOT_RECORDED = (
    "The portal's database failed while recording this step ({kind}), so the rotation stopped "
    "there. Resume it once the database answers again."
)
ROTATION_ABORT_OLD_KEY_GONE = (
    "The old key is gone from Venice, so the replacement is the only key left: the portal "
    "kept it. Abort keeping the replacement, or resume the rotation."
)
ROTATION_UNDELIVERED = (
    "The new key's secret never reached the schedule's sink, so nobody has it: this rotation "
    "can only be aborted (which deletes the replacement). The schedule tries again."
)
ROTATION_DELIVERY_FAILED = (
    "The new secret could not be delivered: {why} The replacement was deleted and the old key "
    "left as it was."
)
ROTATION_DELIVERY_ABORT_FAILED = (
    "The new secret could not be delivered ({delivery}), and deleting the replacement failed "
    "too: {abort} Abort this rotation to delete it; the old key was not touched."
)
GRACE_CUSTOM_REQUIRED = "Choose when the grace period ends."
GRACE_CUSTOM_IN_PAST = "The end of the grace period must be in the future."
NEW_EXPIRY_IN_PAST = "The new key's expiry must be in the future."
GRACE_UNKNOWN = "Unknown grace period {value!r}: use now, 1h, 24h, 7d or a duration like 90m."

# How long a step may hold a rotation; far above the client's timeouts and retries.
LEASE = timedelta(minutes=5)
# A replacement whose creation timed out is looked for among keys created around the request:
# this long before it at the earliest, and this long after the client stopped waiting at the
# latest (clock skew between the portal and Venice).
CLOCK_SKEW = timedelta(minutes=5)

DEFAULT_QUIET_PERIOD = timedelta(hours=1)

GRACE_PERIODS = {
    Grace.NOW: timedelta(0),
    Grace.HOUR: timedelta(hours=1),
    Grace.DAY: timedelta(hours=24),
    Grace.WEEK: timedelta(days=7),
}

_DURATION = re.compile(r"^(\d+)\s*(m|h|d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class RotationError(Exception):
    """A rotation refused, or a step the portal itself stopped; `message` says why. It reads
    like a VeniceError where a step's failure is shown (`user_message`, `status`)."""

    status = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @property
    def user_message(self) -> str:
        return self.message


class RotationRefused(RotationError, PermissionDenied):
    """The actor's role may not rotate this key (views answer 403)."""


class SecretNotDelivered(RotationError):
    """A scheduled rotation's sink did not take the new secret; the message says why."""


@dataclass(frozen=True)
class RotationOutcome:
    """What a rotation call did. `secret` is the replacement's one-time secret when this call
    created the replacement (show it once, then drop it); `error` the Venice failure that
    stopped a step, in which case the rotation is `failed` and can be resumed or aborted."""

    rotation: Rotation
    secret: str | None = field(default=None, repr=False)
    error: VeniceError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --- Helpers other layers use ---------------------------------------------------------------


def parse_duration(value: str) -> timedelta:
    """A duration such as 90m, 24h, 7d or 90d as a timedelta; ValueError otherwise."""
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise ValueError(f"{value!r} is not a duration like 90m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def grace_from_text(value: str, *, now: datetime) -> tuple[str, datetime | None]:
    """A command line's --grace: now, 1h, 24h, 7d, any other duration ("90m", "3d") or an
    ISO date/time, as (grace choice, custom end or None)."""
    text = value.strip().lower()
    if text in Grace.values and text != Grace.CUSTOM:
        return text, None
    try:
        return Grace.CUSTOM, now + parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(GRACE_UNKNOWN.format(value=value)) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return Grace.CUSTOM, moment


def replacement_expiry(old: APIKey, *, now: datetime) -> datetime | None:
    """The replacement's expiry unless the person chooses another: as long a life as the old
    key was given, counted from now (a 90-day key is replaced by a 90-day key), in whole
    seconds. None for a key that never expires; the old key's own expiry when its creation
    time is unknown."""
    if old.expires_at is None:
        return None
    if old.created_at is None or old.created_at >= old.expires_at:
        return old.expires_at
    return (now + (old.expires_at - old.created_at)).replace(microsecond=0)


def may_rotate(user, key_type: str) -> bool:
    """Key managers may rotate INFERENCE keys; ADMIN keys only Administrators."""
    if user is None or not user.is_authenticated:
        return False
    return may_manage_key_type(user, APIKeyType(key_type))


def is_portal_key(key: APIKey) -> bool:
    """Whether this is (by its last six characters) the ADMIN key the portal calls Venice with:
    retiring it locks the portal out until VENICE_API_KEY holds the replacement."""
    return _is_portal_key(key.api_key_type, key.last6)


def _is_portal_key(key_type: str, last6: str) -> bool:
    if key_type != APIKeyType.ADMIN or not last6:
        return False
    secret = settings.VENICE_API_KEY
    if not secret:
        from accounts.sandbox import get_sandbox

        return get_sandbox().admin_key_last6 == last6
    return secret[-6:] == last6


# --- The use cases ---------------------------------------------------------------------------


def rotation_start(
    *,
    context: AuditContext,
    key_id: str,
    grace: str,
    grace_ends_at: datetime | None = None,
    new_expires_at: datetime | date | None | _Unset = UNSET,
    now: datetime | None = None,
    approval=None,
    finish_when_quiet: bool = False,
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD,
    schedule: RotationSchedule | None = None,
) -> RotationOutcome:
    """Rotate a key: record the intent, create the replacement, retire the old key.

    With a `schedule` (services/rotation_schedules.py), the new secret goes to the
    schedule's sink before the old key is touched; if it cannot be delivered, the
    replacement is deleted and the rotation aborted, so the old key keeps working and no
    key is left whose secret nobody has.

    With `finish_when_quiet`, finish_rotations deletes the old key before the grace ends
    once the new key is in use and the old one has been idle for `quiet_period`
    (services/rotation_watch.py).

    Key policies apply (services/policies.py): rotating an ADMIN key, or a key in use
    without grace, may need a second Administrator (ApprovalRequired unless `approval` is the
    approved change request that carries it).

    `grace` is a `Rotation.Grace` value; with `Grace.CUSTOM`, `grace_ends_at` says when the
    old key is deleted. `new_expires_at` is the replacement's expiry: by default the old key's
    lifetime again (`replacement_expiry`), so an expiry is never dropped unasked; None means
    the replacement never expires.

    Raises `RotationRefused` (role), `RotationError` (no such key, bad times, a rotation
    already open) and `VeniceError` (reading the old key failed) before changing anything.
    Once the rotation is recorded, a failing step does not raise: the outcome carries the
    error, the rotation is `failed`, and the secret is in the outcome if the replacement was
    created before the failure — show it, or it is lost.
    """
    now = now or timezone.now()
    client = get_client()
    # Past the cache: the settings copied must be the key's own, as of now.
    old = client.api_keys.get(key_id, fresh=True)
    if old is None:
        raise RotationError(ROTATION_KEY_NOT_FOUND)
    _check_may_rotate(context.user, old.api_key_type)
    check_key_in_scope(context.user, old.id, old.description)
    if grace == Grace.NOW and is_portal_key(old):
        raise RotationError(ROTATION_PORTAL_KEY_NOW)
    enforce(policy_check_rotation(key=old, grace=grace, now=now), approved=approval is not None)
    retire_at = _retire_time(grace, grace_ends_at, now=now, old_expires_at=old.expires_at)
    if new_expires_at is UNSET:
        new_expires_at = replacement_expiry(old, now=now)
    new_expires_at = _new_expiry(new_expires_at, now=now)

    rotation = _record_start(
        context,
        old=old,
        grace=grace,
        retire_at=retire_at,
        new_expires_at=new_expires_at,
        now=now,
        approval=approval,
        finish_when_quiet=finish_when_quiet,
        quiet_period=quiet_period,
        schedule=schedule,
    )
    return _run(rotation, context, client=client, old=old, now=now, schedule=schedule)


def rotation_resume(
    *, context: AuditContext, rotation_id: int, now: datetime | None = None
) -> RotationOutcome:
    """Pick a failed (or stalled, or due) rotation up where it stopped.

    Never creates a second replacement: when the replacement's creation may have happened
    without an answer (a timeout, a crash), the keys Venice holds are searched for it first
    (by the rotation's description and creation time); such a key's secret was never
    received, so it is deleted before one new replacement is created.
    """
    now = now or timezone.now()
    rotation = _get(rotation_id)
    _check_may_rotate(context.user, rotation.old_key_type)
    check_key_in_scope(context.user, rotation.old_key_id, rotation.old_description)
    if rotation.awaits_delivery:
        raise RotationError(ROTATION_UNDELIVERED)
    if rotation.state == State.FAILED:
        resume_state = rotation.failed_step or State.STARTED
    elif rotation.state == State.GRACE:
        if rotation.retire_at and rotation.retire_at > now:
            raise RotationError(
                ROTATION_GRACE_NOT_OVER.format(retire_at=dates.prose(rotation.retire_at))
            )
        resume_state = State.GRACE
    elif rotation.state in (State.STARTED, State.REPLACEMENT_CREATED):
        resume_state = rotation.state
    else:
        raise RotationError(ROTATION_NOT_RESUMABLE.format(state=rotation.get_state_display()))
    if not _claim(rotation, state=resume_state, last_error=""):
        raise RotationError(ROTATION_BUSY)
    return _run(rotation, context, client=get_client(), old=None, now=now)


def rotation_abort(
    *,
    context: AuditContext,
    rotation_id: int,
    delete_replacement: bool,
    now: datetime | None = None,
) -> Rotation:
    """Close an open rotation without finishing it.

    The old key gets back the expiry it had (if a grace period had changed it). With
    `delete_replacement`, the replacement is deleted too; without it, both keys stay. A
    replacement whose creation timed out (so nobody ever saw its secret) is always deleted.

    Raises `RotationError` when the rotation is closed, busy, or when deleting the
    replacement would leave no key; `VeniceError` when an upstream call fails (the rotation
    stays as it was, with the error noted, and aborting can be tried again).
    """
    now = now or timezone.now()
    rotation = _get(rotation_id)
    _check_may_rotate(context.user, rotation.old_key_type)
    check_key_in_scope(context.user, rotation.old_key_id, rotation.old_description)
    if not rotation.is_open:
        raise RotationError(ROTATION_NOT_ABORTABLE.format(state=rotation.get_state_display()))
    if delete_replacement and rotation.has_replacement and rotation.old_key_deleted_at:
        raise RotationError(ROTATION_ABORT_WOULD_LEAVE_NO_KEY)
    if not _claim(rotation):
        raise RotationError(ROTATION_BUSY)
    _abort_claimed(
        rotation, context, client=get_client(), delete_replacement=delete_replacement, now=now
    )
    return rotation


def _abort_claimed(
    rotation: Rotation,
    context: AuditContext,
    *,
    client,
    delete_replacement: bool,
    now: datetime | None = None,
) -> None:
    """rotation_abort's work, on a rotation whose lease the caller holds."""
    now = now or timezone.now()
    try:
        with audited(
            context,
            action=ACTION_ABORTED,
            key_id=rotation.old_key_id,
            description=rotation.old_description,
            last6=rotation.old_last6,
            details={
                "rotation": rotation.pk,
                "state": rotation.state,
                "delete_replacement": delete_replacement,
                "new_key_id": rotation.new_key_id,
            },
        ) as record:
            if delete_replacement and rotation.replacement_exists:
                # Never delete one key of the pair without seeing, at Venice, the other alive.
                if client.api_keys.get(rotation.old_key_id, fresh=True) is None:
                    raise RotationError(ROTATION_ABORT_OLD_KEY_GONE)
            if _may_restore_expiry(rotation, now):
                try:
                    client.api_keys.update(rotation.old_key_id, expires_at=rotation.old_expires_at)
                    record.add_details(old_key_expiry_restored=_iso(rotation.old_expires_at))
                except NotFoundError:
                    record.add_details(old_key_already_gone=True)
            if rotation.has_replacement:
                if delete_replacement:
                    _delete_quietly(client, rotation.new_key_id)
                    record.add_details(replacement_deleted=True)
                    _save(rotation, replacement_deleted_at=timezone.now())
            elif rotation.replacement_requested_at:
                orphans = _delete_orphans(client, rotation)
                record.add_details(orphaned_replacements_deleted=orphans)
            _save(rotation, state=State.ABORTED, finished_at=timezone.now(), lease_until=None)
    except VeniceError as error:
        _save(rotation, last_error=error.user_message, lease_until=None)
        raise
    except RotationError as refused:
        _save(rotation, last_error=refused.message, lease_until=None)
        raise


def rotation_finish_due(
    *, context: AuditContext, now: datetime | None = None, limit: int = 100
) -> list[RotationOutcome]:
    """Delete the old keys whose grace period has ended (for cron, every minute).

    Safe to run concurrently and repeatedly: each due rotation is claimed with a conditional
    update (and `SELECT ... FOR UPDATE SKIP LOCKED` where the database has it) before its
    old key is deleted, so two runs never delete the same key, and a finished rotation is
    never due again. Failures leave the rotation `failed` for a person to resume or abort;
    they are not retried every minute.
    """
    now = now or timezone.now()
    due = Q(state=State.GRACE, retire_at__lte=now)
    with transaction.atomic():
        candidates = list(
            Rotation.objects.select_for_update(skip_locked=True)
            .filter(due)
            .filter(_lease_free_q())
            .order_by("retire_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
    outcomes = []
    client = get_client()
    for pk in candidates:
        rotation = Rotation.objects.filter(pk=pk).first()
        if rotation is None or not _claim(rotation, extra=due):
            continue  # another run took it
        outcomes.append(_run(rotation, context, client=client, old=None, now=now))
    return outcomes


def rotations_policy_due(*, older_than: timedelta, now: datetime | None = None) -> list[APIKey]:
    """The keys created longer than `older_than` ago that have no open rotation."""
    now = now or timezone.now()
    cutoff = now - older_than
    keys = get_client().api_keys.list()
    busy = set(
        Rotation.objects.filter(state__in=Rotation.OPEN_STATES).values_list("old_key_id", flat=True)
    )
    return sorted(
        (k for k in keys if k.created_at and k.created_at <= cutoff and k.id not in busy),
        key=lambda k: k.created_at,
    )


# --- Steps -----------------------------------------------------------------------------------


def _record_start(
    context: AuditContext,
    *,
    old: APIKey,
    grace: str,
    retire_at: datetime,
    new_expires_at: datetime | None,
    now: datetime,
    approval=None,
    finish_when_quiet: bool = False,
    quiet_period: timedelta = timedelta(hours=1),
    schedule: RotationSchedule | None = None,
) -> Rotation:
    with audited(
        context,
        action=ACTION_STARTED,
        key_id=old.id,
        description=old.description,
        last6=old.last6,
        details={
            "grace": grace,
            "retire_at": _iso(retire_at),
            "old_expires_at": _iso(old.expires_at),
            "new_expires_at": _iso(new_expires_at),
            "key_type": str(old.api_key_type),
            **({"finish_when_quiet_after": str(quiet_period)} if finish_when_quiet else {}),
            **(approval_details(approval) if approval is not None else {}),
            **(_schedule_details(schedule) if schedule is not None else {}),
        },
    ) as record:
        try:
            # A savepoint of its own: on PostgreSQL a failed INSERT poisons the transaction.
            with transaction.atomic():
                rotation = Rotation.objects.create(
                    old_key_id=old.id,
                    old_description=old.description,
                    old_last6=old.last6,
                    old_key_type=str(old.api_key_type),
                    old_expires_at=old.expires_at,
                    new_expires_at=new_expires_at,
                    grace=grace,
                    retire_at=retire_at,
                    grace_period=retire_at - now,
                    finish_when_quiet=finish_when_quiet,
                    quiet_period=quiet_period,
                    schedule=schedule,
                    secret_sink=schedule.sink if schedule is not None else "",
                    started_by=context.user if _is_saved_user(context.user) else None,
                    started_by_username=context.username,
                    lease_until=timezone.now() + LEASE,
                )
        except IntegrityError:
            # The partial unique index: another rotation of this key is open (maybe it was
            # inserted a moment ago by a request racing this one).
            raise RotationError(ROTATION_ALREADY_OPEN) from None
        record.add_details(rotation=rotation.pk)
    return rotation


def _run(
    rotation: Rotation,
    context: AuditContext,
    *,
    client,
    old: APIKey | None,
    now: datetime,
    schedule: RotationSchedule | None = None,
) -> RotationOutcome:
    """Advance a claimed rotation as far as it can go now, then release it.

    Whatever stops a step — Venice, a refusal, the portal's own database — ends here as a
    failed rotation and an outcome, never as an exception: once the replacement exists, its
    secret must reach the caller, and the old key is not touched after a failure."""
    secret = None
    step = rotation.state
    try:
        while True:
            step = rotation.state
            if step == State.STARTED:
                old = old or _fetch_old(client, rotation)
                new = _create_replacement(rotation, context, client=client, old=old)
                secret = new.secret
                _save(
                    rotation,
                    state=State.REPLACEMENT_CREATED,
                    new_key_id=new.id,
                    new_last6=new.last6,
                    replacement_created_at=timezone.now(),
                )
                if schedule is not None:
                    step = State.REPLACEMENT_CREATED
                    _deliver_secret(rotation, context, schedule=schedule, secret=secret)
                    secret = None  # the sink has it; nobody else needs it
            elif step == State.REPLACEMENT_CREATED:
                _retire_old(rotation, context, client=client, now=now)
            elif step == State.GRACE and rotation.retire_at and rotation.retire_at <= now:
                if not rotation.old_key_deleted_at:
                    _delete_old(rotation, context, client=client, now=now)
                _complete(rotation, context, now=now)
            else:
                break
    except SecretNotDelivered as error:
        return _discard_undelivered(rotation, context, client=client, error=error)
    except Exception as error:
        failure = error if isinstance(error, VeniceError | RotationError) else None
        if failure is None:
            logger.exception("Rotation %s stopped by a local error", rotation.pk)
            failure = RotationError(ROTATION_STEP_NOT_RECORDED.format(kind=type(error).__name__))
        # A replacement known only in memory (its state failed to save) is what resuming
        # must start from: retiring the old key, not creating another.
        if step == State.STARTED and rotation.new_key_id:
            step = State.REPLACEMENT_CREATED
        try:
            _fail(rotation, context, step=step, error=failure)
        except Exception:
            logger.exception("Could not record that rotation %s failed", rotation.pk)
        return RotationOutcome(rotation=rotation, secret=secret, error=failure)
    try:
        _save(rotation, lease_until=None)
    except Exception:
        logger.exception("Could not release rotation %s; its lease runs out", rotation.pk)
    return RotationOutcome(rotation=rotation, secret=secret)


def _deliver_secret(
    rotation: Rotation, context: AuditContext, *, schedule: RotationSchedule, secret: str
) -> None:
    with audited(
        context,
        action=ACTION_SECRET_DELIVERED,
        key_id=rotation.new_key_id,
        description=rotation.new_description,
        last6=rotation.new_last6,
        details={
            "rotation": rotation.pk,
            "old_key_id": rotation.old_key_id,
            **_schedule_details(schedule),
        },
    ):
        try:
            secret_sinks.deliver(schedule, secret, rotation=rotation)
        except secret_sinks.SinkError as failure:
            raise SecretNotDelivered(failure.message) from None
    _save(rotation, secret_delivered_at=timezone.now())


def _discard_undelivered(
    rotation: Rotation, context: AuditContext, *, client, error: SecretNotDelivered
) -> RotationOutcome:
    """The sink did not get the new secret: delete the replacement (nobody has its secret)
    and abort, leaving the old key as it was. If even that fails, the rotation is failed and
    `awaits_delivery`: it can only be aborted, which deletes the replacement then."""
    try:
        _abort_claimed(rotation, context, client=client, delete_replacement=True)
        failure = RotationError(ROTATION_DELIVERY_FAILED.format(why=error.message))
        _save(rotation, last_error=failure.message)
    except (VeniceError, RotationError) as abort_error:
        logger.warning("Rotation %s: could not delete the undelivered replacement", rotation.pk)
        both = RotationError(
            ROTATION_DELIVERY_ABORT_FAILED.format(
                delivery=error.message, abort=abort_error.user_message
            )
        )
        _fail(rotation, context, step=State.REPLACEMENT_CREATED, error=both)
        failure = both
    return RotationOutcome(rotation=rotation, secret=None, error=failure)


def _schedule_details(schedule: RotationSchedule) -> dict:
    return {
        "schedule": schedule.pk,
        "sink": schedule.sink,
        "schedule_owner": schedule.owner_username,
    }


def _fetch_old(client, rotation: Rotation) -> APIKey:
    old = client.api_keys.get(rotation.old_key_id, fresh=True)
    if old is None:
        raise NotFoundError(ROTATION_OLD_KEY_GONE, status=404)
    return old


def _create_replacement(
    rotation: Rotation, context: AuditContext, *, client, old: APIKey
) -> APIKey:
    """Ask Venice for the replacement; the key returned carries its one-time secret."""
    orphans = []
    if rotation.replacement_requested_at:
        # An earlier attempt asked Venice for the replacement and never heard back.
        orphans = _delete_orphans(client, rotation, context=context)
    # The replacement keeps the old key's name: it is the same key to the people who use it,
    # and spend by key stays under one name across rotations.
    description = rotation.old_description
    _save(rotation, new_description=description, replacement_requested_at=timezone.now())
    # The record names no key until Venice says which one it made: a crash before that
    # leaves reconcile_audit the description, type and time to find the replacement by,
    # and never the old key's id (which would flag the working old key's secret as lost).
    with audited(
        context,
        action=ACTION_REPLACEMENT_CREATED,
        description=description,
        details={
            "rotation": rotation.pk,
            "old_key_id": rotation.old_key_id,
            "new_description": description,
            "new_expires_at": _iso(rotation.new_expires_at),
            "key_type": str(old.api_key_type),
            "limit_period": str(old.limit_period),
            "model_privacy": str(old.model_privacy),
            "consumption_limits": {
                "usd": _str_or_none(old.consumption_limits.usd),
                "diem": _str_or_none(old.consumption_limits.diem),
            },
            **({"orphans_deleted": orphans} if orphans else {}),
        },
    ) as record:
        try:
            new = client.api_keys.create(
                description,
                api_key_type=APIKeyType(rotation.old_key_type),
                consumption_limits=old.consumption_limits,
                limit_period=old.limit_period,
                model_privacy=old.model_privacy,
                expires_at=rotation.new_expires_at,
            )
        except VeniceError as error:
            if create_may_have_happened(error):
                _delete_orphans_now(client, rotation, context=context, record=record)
            raise
        record.note_key(new)
        record.add_details(new_key_id=new.id)
    ownership_follow_rotation(old_key_id=rotation.old_key_id, new_key=new)
    return new


def _delete_orphans_now(client, rotation: Rotation, *, context: AuditContext, record) -> None:
    """After a create with no usable answer, delete at once what Venice may have made (its
    secret never arrived), so the log never leaves a live key unaccounted for. A lookup that
    fails too leaves it to the next resume or abort, which search again."""
    try:
        orphans = _delete_orphans(client, rotation, context=context)
    except VeniceError as lookup_error:
        record.add_details(orphan_search_failed=str(lookup_error))
        return
    if orphans:
        record.add_details(orphans_deleted=orphans)


def _retire_old(rotation: Rotation, context: AuditContext, *, client, now: datetime) -> None:
    replanned_from = None
    if rotation.grace != Grace.NOW and rotation.retire_at <= now:
        # The old key never got its grace period (its schedule failed, and this resume comes
        # after the planned end): give it one from now, rather than delete at once a key that
        # something may still use. Only a key that has expired by itself meanwhile goes now.
        replanned_from = rotation.retire_at
        retire_at = _retire_at(
            _grace_length(rotation), now=now, old_expires_at=rotation.old_expires_at
        )
        if retire_at > now and client.api_keys.get(rotation.old_key_id, fresh=True) is not None:
            _save(rotation, retire_at=retire_at)
    if rotation.grace == Grace.NOW or rotation.retire_at <= now:
        _delete_old(rotation, context, client=client, now=now)
        _complete(rotation, context, now=now)
        return
    with audited(
        context,
        action=ACTION_OLD_KEY_SCHEDULED,
        key_id=rotation.old_key_id,
        description=rotation.old_description,
        last6=rotation.old_last6,
        changes={"expires_at": [_iso(rotation.old_expires_at), _iso(rotation.retire_at)]},
        details={
            "rotation": rotation.pk,
            "grace": rotation.grace,
            "new_key_id": rotation.new_key_id,
            **({"replanned_from": _iso(replanned_from)} if replanned_from else {}),
        },
    ):
        # Setting the expiry is deleting it later: only with the replacement seen alive.
        _require_alive(client, rotation.new_key_id, ROTATION_REPLACEMENT_GONE)
        # Venice itself stops the old key at the end of the grace period; the delete that
        # follows (finish_rotations) only tidies up.
        client.api_keys.update(rotation.old_key_id, expires_at=rotation.retire_at)
    _save(rotation, state=State.GRACE, old_key_scheduled_at=timezone.now())


def _delete_old(rotation: Rotation, context: AuditContext, *, client, now: datetime) -> None:
    with audited(
        context,
        action=ACTION_OLD_KEY_DELETED,
        key_id=rotation.old_key_id,
        description=rotation.old_description,
        last6=rotation.old_last6,
        details={"rotation": rotation.pk, "new_key_id": rotation.new_key_id},
    ) as record:
        if _is_portal_key(rotation.old_key_type, rotation.old_last6):
            raise RotationError(ROTATION_PORTAL_KEY_STILL_USED)
        _require_alive(client, rotation.new_key_id, ROTATION_REPLACEMENT_GONE)
        if not _delete_quietly(client, rotation.old_key_id):
            record.add_details(already_gone=True)
    _save(rotation, old_key_deleted_at=timezone.now())


def _complete(rotation: Rotation, context: AuditContext, *, now: datetime) -> None:
    # Local bookkeeping, no upstream call: the state and its record commit together.
    with transaction.atomic():
        _save(
            rotation,
            state=State.COMPLETED,
            finished_at=timezone.now(),
            failed_step="",
            last_error="",
        )
        audit_log(
            context,
            action=ACTION_COMPLETED,
            key_id=rotation.new_key_id,
            description=rotation.new_description,
            last6=rotation.new_last6,
            details={
                "rotation": rotation.pk,
                "old_key_id": rotation.old_key_id,
                "new_key_id": rotation.new_key_id,
                "grace": rotation.grace,
            },
        )
    if rotation.schedule_id:
        _forget_previous_secret(rotation)


def _forget_previous_secret(rotation: Rotation) -> None:
    """The old key is gone, so its secret kept beside a file sink is of no more use."""
    schedule = RotationSchedule.objects.filter(pk=rotation.schedule_id).first()
    if schedule is None:
        return
    try:
        secret_sinks.delivered_and_done(schedule)
    except OSError:
        logger.warning("Rotation %s: could not remove the previous secret's file", rotation.pk)


def _fail(
    rotation: Rotation, context: AuditContext, *, step: str, error: VeniceError | RotationError
) -> None:
    """The rotation stops at `step`; its record says so as a failure, with the error (the
    step's own record, already finished as failed, says the same about the call). Every field
    is saved: a step that failed to save its own progress (the replacement's id) has it
    written here."""
    rotation.state = State.FAILED
    rotation.failed_step = step
    rotation.last_error = error.user_message
    rotation.lease_until = None
    with transaction.atomic():
        rotation.save()
        audit_log(
            context,
            action=ACTION_FAILED,
            key_id=rotation.old_key_id,
            description=rotation.old_description,
            last6=rotation.old_last6,
            details={
                "rotation": rotation.pk,
                "step": step,
                "status": error.status,
                "new_key_id": rotation.new_key_id,
            },
            outcome=AuditOutcome.FAILED,
            error=error.message,
        )


def _delete_orphans(
    client, rotation: Rotation, *, context: AuditContext | None = None
) -> list[str]:
    """Delete keys this rotation asked for but never heard about (their secret is lost).

    Such a key has the replacement's description and type, was created within the time the
    request could have taken effect (give or take clock skew), and no audit record names it
    (a key the portal created or recorded is somebody's, never an orphan). The list is read
    past the cache: a create that finished late at Venice must not be missed.
    """
    if not rotation.new_description or not rotation.replacement_requested_at:
        return []
    earliest = rotation.replacement_requested_at - CLOCK_SKEW
    latest = rotation.replacement_requested_at + _request_window()
    candidates = [
        key
        for key in client.api_keys.list(fresh=True)
        if key.id != rotation.old_key_id
        and key.description == rotation.new_description
        and key.api_key_type == rotation.old_key_type
        and key.created_at is not None
        and earliest <= key.created_at <= latest
    ]
    orphans = audit_unrecorded_keys(candidates)
    if not rotation.new_key_id:
        # Still looking for its replacement, so one its own earlier attempt made and recorded
        # is lost too: that worker died between Venice's answer and saving the replacement.
        orphans += audit_keys_made_only_by_rotation_attempt(candidates, rotation_id=rotation.pk)
    deleted = []
    for key in orphans:
        if context is None:
            _delete_quietly(client, key.id)
        else:
            with audited(
                context,
                action=ACTION_KEY_DELETED,
                key=key,
                details={
                    "rotation": rotation.pk,
                    SECRET_LOST: True,
                    "reason": "a replacement created by a request that never answered; "
                    "its secret never reached anyone",
                },
            ):
                _delete_quietly(client, key.id)
        deleted.append(key.id)
    return deleted


def _request_window() -> timedelta:
    """How long after it was sent a create may still have taken effect at Venice."""
    return timedelta(seconds=settings.VENICE_CONNECT_TIMEOUT + settings.VENICE_READ_TIMEOUT) + (
        CLOCK_SKEW
    )


# --- Bookkeeping -----------------------------------------------------------------------------


def _get(rotation_id: int) -> Rotation:
    rotation = Rotation.objects.filter(pk=rotation_id).first()
    if rotation is None:
        raise RotationError(ROTATION_NOT_FOUND)
    return rotation


def _check_may_rotate(user, key_type: str) -> None:
    if not may_rotate(user, key_type):
        if key_type == APIKeyType.ADMIN:
            raise RotationRefused(ROTATION_ADMIN_KEY_REFUSED)
        raise RotationRefused(ROTATION_REFUSED)


def _retire_time(
    grace: str,
    custom: datetime | None,
    *,
    now: datetime,
    old_expires_at: datetime | None,
) -> datetime:
    if grace not in Grace.values:
        raise RotationError(GRACE_UNKNOWN.format(value=grace))
    if grace != Grace.CUSTOM:
        return _retire_at(GRACE_PERIODS[grace], now=now, old_expires_at=old_expires_at)
    if custom is None:
        raise RotationError(GRACE_CUSTOM_REQUIRED)
    if timezone.is_naive(custom):
        custom = timezone.make_aware(custom, UTC)
    if custom <= now:
        raise RotationError(GRACE_CUSTOM_IN_PAST)
    return _retire_at(custom - now, now=now, old_expires_at=old_expires_at)


def _retire_at(length: timedelta, *, now: datetime, old_expires_at: datetime | None) -> datetime:
    """When a grace period of `length` from now ends, in whole seconds (the time Venice is
    sent and the time shown are the same). A grace period never lengthens a key's life: one
    that expires sooner keeps its expiry."""
    retire_at = (now + length).replace(microsecond=0)
    if old_expires_at is not None and old_expires_at < retire_at:
        retire_at = max(old_expires_at, now)
    return retire_at


def _grace_length(rotation: Rotation) -> timedelta:
    """The grace period the rotation was started with."""
    if rotation.grace_period is not None:
        return rotation.grace_period
    return GRACE_PERIODS.get(rotation.grace) or rotation.retire_at - rotation.created_at


def _new_expiry(value: datetime | date | None, *, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min, tzinfo=UTC)
    elif timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    if value <= now:
        raise RotationError(NEW_EXPIRY_IN_PAST)
    return value


def _may_restore_expiry(rotation: Rotation, now: datetime) -> bool:
    """Whether aborting should give the old key back its expiry: only when the grace period
    changed it, the key still exists, and the old expiry is not already past (Venice refuses
    an expiry in the past, and such a key has expired anyway)."""
    if not rotation.old_key_scheduled_at or rotation.old_key_deleted_at:
        return False
    return rotation.old_expires_at is None or rotation.old_expires_at > now


def _lease_free_q() -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())


def _claim(rotation: Rotation, *, extra: Q | None = None, **fields) -> bool:
    """Take the rotation's lease if nobody holds it (a conditional UPDATE: one winner)."""
    query = Rotation.objects.filter(pk=rotation.pk, state=rotation.state).filter(_lease_free_q())
    if extra is not None:
        query = query.filter(extra)
    lease_until = timezone.now() + LEASE
    if not query.update(lease_until=lease_until, updated_at=timezone.now(), **fields):
        return False
    for name, value in fields.items():
        setattr(rotation, name, value)
    rotation.lease_until = lease_until
    return True


def _save(rotation: Rotation, **fields) -> None:
    for name, value in fields.items():
        setattr(rotation, name, value)
    rotation.save(update_fields=[*fields, "updated_at"])


def _require_alive(client, key_id: str, message: str) -> None:
    """Raise NotFoundError(message) unless Venice, asked past the cache, has this key."""
    if client.api_keys.get(key_id, fresh=True) is None:
        raise NotFoundError(message, status=404)


def _delete_quietly(client, key_id: str) -> bool:
    """Delete a key; False if it was already gone (the goal is reached either way)."""
    return client.api_keys.delete(key_id)


def _is_saved_user(user) -> bool:
    return user is not None and getattr(user, "pk", None) is not None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)
