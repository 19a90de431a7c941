"""Key rotations: the workflow's memory between steps and between processes."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RotationState(models.TextChoices):
    STARTED = "started", "Started"
    REPLACEMENT_CREATED = "replacement_created", "Replacement created"
    GRACE = "grace", "In grace period"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"


# A failed rotation stays open: it holds the key until someone resumes or aborts it, so a
# second rotation cannot start next to a half-finished one.
ROTATION_OPEN_STATES = (
    RotationState.STARTED,
    RotationState.REPLACEMENT_CREATED,
    RotationState.GRACE,
    RotationState.FAILED,
)


ROTATION_STEP_LABELS = {
    RotationState.STARTED: "creating the replacement key",
    RotationState.REPLACEMENT_CREATED: "retiring the old key",
    RotationState.GRACE: "deleting the old key at the end of the grace period",
}


class RotationGrace(models.TextChoices):
    NOW = "now", "None"
    HOUR = "1h", "1 hour"
    DAY = "24h", "24 hours"
    WEEK = "7d", "7 days"
    CUSTOM = "custom", "Custom"


class Rotation(models.Model):
    """One rotation of one Venice key: replace it, show the new secret once, retire the old one.

    The row is the workflow's memory between steps (and between processes: a cron job finishes
    grace periods); the audit log holds the step-by-step history. It snapshots what the key page
    needs to tell the story after the old key is gone, and never a secret.
    """

    State = RotationState
    Grace = RotationGrace

    class KeyType(models.TextChoices):
        INFERENCE = "INFERENCE", "Inference"
        ADMIN = "ADMIN", "Admin"

    OPEN_STATES = ROTATION_OPEN_STATES
    CLOSED_STATES = (State.COMPLETED, State.ABORTED)

    # The old key, as it was when the rotation started.
    old_key_id = models.CharField(max_length=64, db_index=True)
    old_description = models.CharField(max_length=64, blank=True)
    old_last6 = models.CharField(max_length=6, blank=True)
    old_key_type = models.CharField(max_length=16, choices=KeyType.choices)
    old_expires_at = models.DateTimeField(null=True, blank=True)

    # The replacement, once Venice created it.
    new_key_id = models.CharField(max_length=64, blank=True, db_index=True)
    new_last6 = models.CharField(max_length=6, blank=True)
    new_description = models.CharField(max_length=64, blank=True)
    new_expires_at = models.DateTimeField(null=True, blank=True)

    state = models.CharField(max_length=24, choices=State.choices, default=State.STARTED)
    # The state whose step failed, so resuming knows where to pick up.
    failed_step = models.CharField(max_length=24, choices=State.choices, blank=True)
    last_error = models.TextField(blank=True)

    grace = models.CharField(max_length=8, choices=Grace.choices)
    # When the old key is deleted; its expiresAt is set to this for a grace period.
    retire_at = models.DateTimeField(null=True, blank=True)
    # How long the grace period was to be, so a late resume can still give all of it.
    grace_period = models.DurationField(null=True, blank=True)
    # Watching the traffic (services/rotation_watch.py): delete the old key before the grace
    # ends once the new key is in use and the old one has been idle this long.
    finish_when_quiet = models.BooleanField(default=False)
    quiet_period = models.DurationField(default=timedelta(hours=1))
    # What Venice's lastUsedAt said: the new key's first use seen, the old key's last.
    new_first_used_at = models.DateTimeField(null=True, blank=True)
    old_last_used_at = models.DateTimeField(null=True, blank=True)
    traffic_seen_at = models.DateTimeField(null=True, blank=True)
    # Started by a schedule (rotate_due): its sink, not a person, gets the new secret, and
    # until it has (secret_delivered_at) the replacement is nobody's, so the rotation may
    # only be aborted, never resumed into retiring the old key.
    schedule = models.ForeignKey(
        "RotationSchedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    secret_sink = models.CharField(max_length=16, blank=True)
    secret_delivered_at = models.DateTimeField(null=True, blank=True)

    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_by_username = models.CharField(max_length=150)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set just before the replacement is requested: a request that timed out may still have
    # created a key, and resuming looks for it upstream before asking for another.
    replacement_requested_at = models.DateTimeField(null=True, blank=True)
    replacement_created_at = models.DateTimeField(null=True, blank=True)
    old_key_scheduled_at = models.DateTimeField(null=True, blank=True)
    old_key_deleted_at = models.DateTimeField(null=True, blank=True)
    replacement_deleted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Whoever works on a step holds the row until this time (a lease, not a database lock:
    # the step's upstream call must not run inside a transaction, because its audit record
    # commits first). A crash releases it by letting it run out.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=RotationState.values),
                name="rotation_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(grace__in=RotationGrace.values),
                name="rotation_grace_valid",
            ),
            # One open rotation per key, also when two requests race: the database decides.
            models.UniqueConstraint(
                fields=["old_key_id"],
                condition=Q(state__in=[state.value for state in ROTATION_OPEN_STATES]),
                name="rotation_one_open_per_key",
            ),
        ]

    def __str__(self):
        return f"rotation {self.pk} of {self.old_key_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def has_replacement(self) -> bool:
        return bool(self.new_key_id)

    @property
    def is_leased(self) -> bool:
        """Whether a request or a cron run is working on a step right now."""
        return self.lease_until is not None and self.lease_until >= timezone.now()

    @property
    def is_stalled(self) -> bool:
        """Mid-step with nobody working on it: its worker died (the lease ran out)."""
        return (
            self.state in (RotationState.STARTED, RotationState.REPLACEMENT_CREATED)
            and not self.is_leased
        )

    @property
    def grace_is_over(self) -> bool:
        return self.retire_at is not None and self.retire_at <= timezone.now()

    @property
    def resumable(self) -> bool:
        """Resume makes sense now: it failed, stalled, or its grace ended without cron."""
        if self.is_leased or self.awaits_delivery:
            return False
        if self.state == RotationState.GRACE:
            return self.grace_is_over
        return self.state == RotationState.FAILED or self.is_stalled

    @property
    def abortable(self) -> bool:
        if self.is_leased:
            return False
        return self.state in (RotationState.FAILED, RotationState.GRACE) or self.is_stalled

    @property
    def step_label(self) -> str:
        """What the step that failed (or is next) does, in words."""
        return ROTATION_STEP_LABELS.get(self.failed_step or self.state, "")

    @property
    def old_key_deleted(self) -> bool:
        return self.old_key_deleted_at is not None

    @property
    def replacement_exists(self) -> bool:
        return self.has_replacement and self.replacement_deleted_at is None

    @property
    def awaits_delivery(self) -> bool:
        """A scheduled rotation whose replacement exists but whose sink never got the secret:
        nobody has it, so the only way on is to abort (deleting the replacement)."""
        return (
            self.is_open
            and bool(self.secret_sink)
            and self.secret_delivered_at is None
            and self.replacement_exists
        )

    @property
    def switch_took(self) -> timedelta | None:
        """From the new key's first use to the old key's last: how long both were in use."""
        if self.new_first_used_at is None or self.old_last_used_at is None:
            return None
        return max(self.old_last_used_at - self.new_first_used_at, timedelta(0))

    @property
    def state_badge(self) -> str:
        """The badge modifier that colours this state (see portal.css)."""
        return {
            RotationState.COMPLETED: "ok",
            RotationState.FAILED: "danger",
            RotationState.GRACE: "info",
            RotationState.ABORTED: "",
        }.get(self.state, "warn")


# rotate_due runs hourly: a schedule still due after this has been missed.
OVERDUE_AFTER = timedelta(hours=2)


class RotationSchedule(models.Model):
    """ "Rotate this key every N days": `rotate_due` (cron, hourly) starts its rotations.

    The new secret goes to the schedule's sink without a person: a file (written 0600,
    atomically), a command that reads it on standard input, or an HTTPS webhook that gets it
    in a signed body. The sink's target is set by the operator (`manage.py
    rotation_schedule`), never from the web: a command to run, a path to write or a URL to
    send secrets to is the server's business. It is stored encrypted, as is anything that
    could point at where secrets go, and so is a webhook's signing secret (sent again each
    rotation). The schedule follows its key: after each rotation it names the replacement."""

    class Sink(models.TextChoices):
        FILE = "file", "A file"
        COMMAND = "command", "A command, on its standard input"
        WEBHOOK = "webhook", "A webhook, over HTTPS, signed"

    key_id = models.CharField(max_length=64, unique=True)
    key_description = models.CharField(max_length=64, blank=True)
    every = models.DurationField()
    grace = models.CharField(max_length=8, choices=RotationGrace.choices, default="24h")
    finish_when_quiet = models.BooleanField(default=False)
    quiet_period = models.DurationField(default=timedelta(hours=1))
    sink = models.CharField(max_length=16, choices=Sink.choices)
    sink_target_encrypted = models.TextField()
    sink_secret_encrypted = models.TextField(blank=True)  # a webhook sink's signing secret
    next_due_at = models.DateTimeField(db_index=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The schedule rotates as its owner, with the owner's role: an owner who may no longer
    # rotate the key (or is gone) stops the schedule until an operator sets it again.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_username = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["next_due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sink__in=["file", "command", "webhook"]),
                name="rotation_schedule_sink_valid",
            ),
        ]

    def __str__(self):
        return f"rotate {self.key_description or self.key_id} every {self.every}"

    def is_overdue(self, now=None) -> bool:
        """Due for longer than rotate_due's hour between runs: it did not run, or failed."""
        return self.next_due_at + OVERDUE_AFTER <= (now or timezone.now())
