"""Local records only: audit events and rotations. Venice data stays in Venice."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class PortalAccess(models.Model):
    """Holds the portal's ability permissions (accounts/roles.py); it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "portal access"

    def __str__(self):
        return "portal access"


class Rotation(models.Model):
    """One rotation of one Venice key: replace it, show the new secret once, retire the old one.

    The row is the workflow's memory between steps (and between processes: a cron job finishes
    grace periods); the audit log holds the step-by-step history. It snapshots what the key page
    needs to tell the story after the old key is gone, and never a secret.
    """

    class State(models.TextChoices):
        STARTED = "started", "Started"
        REPLACEMENT_CREATED = "replacement_created", "Replacement created"
        GRACE = "grace", "In grace period"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        ABORTED = "aborted", "Aborted"

    class Grace(models.TextChoices):
        NOW = "now", "None: delete the old key now"
        HOUR = "1h", "1 hour"
        DAY = "24h", "24 hours"
        WEEK = "7d", "7 days"
        CUSTOM = "custom", "Until a time I choose"

    class KeyType(models.TextChoices):
        INFERENCE = "INFERENCE", "Inference"
        ADMIN = "ADMIN", "Admin"

    # A failed rotation stays open: it holds the key until someone resumes or aborts it, so a
    # second rotation cannot start next to a half-finished one.
    OPEN_STATES = (State.STARTED, State.REPLACEMENT_CREATED, State.GRACE, State.FAILED)
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
    finished_at = models.DateTimeField(null=True, blank=True)

    # Whoever works on a step holds the row until this time (a lease, not a database lock:
    # the step's upstream call must not run inside a transaction, because its audit record
    # commits first). A crash releases it by letting it run out.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[state.value for state in State]),
                name="rotation_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(grace__in=[grace.value for grace in Grace]),
                name="rotation_grace_valid",
            ),
            # One open rotation per key, also when two requests race: the database decides.
            models.UniqueConstraint(
                fields=["old_key_id"],
                condition=Q(state__in=["started", "replacement_created", "grace", "failed"]),
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
