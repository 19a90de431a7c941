"""Key policies and change requests: the rules in front of the changes that can hurt."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class KeyPolicy(models.Model):
    """The account's key policies: one row (pk=1), read by every key change.

    A blank number turns its rule off. The defaults are the safe ones DESIGN.md names:
    ADMIN keys, deleting a key in use and rotating a key in use without grace need a second
    Administrator; the rest is off until an Administrator sets it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # New INFERENCE keys must expire within this many days.
    inference_max_expiry_days = models.PositiveIntegerField(null=True, blank=True)
    # New INFERENCE keys must have a consumption limit (USD or DIEM).
    inference_require_limit = models.BooleanField(default=False)
    # ... and a limit above these, per period, needs approval.
    inference_limit_usd_max = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    inference_limit_diem_max = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    admin_keys_need_approval = models.BooleanField(default=True)
    # "In use": the key's lastUsedAt is within this many hours.
    recent_use_hours = models.PositiveIntegerField(default=24)
    delete_in_use_needs_approval = models.BooleanField(default=True)
    rotate_now_in_use_needs_approval = models.BooleanField(default=True)
    # Raising a limit above these (per period), or removing a limit or an expiry.
    limit_raise_usd_threshold = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    limit_raise_diem_threshold = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True
    )
    removing_limit_or_expiry_needs_approval = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by_username = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "key policy"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="key_policy_one_row")]

    def __str__(self):
        return "key policies"

    @classmethod
    def current(cls) -> KeyPolicy:
        return cls.objects.get_or_create(pk=1)[0]


class ChangeRequestState(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved, not made yet"
    EXECUTING = "executing", "Being made"
    EXECUTED = "executed", "Made"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"


class ChangeRequest(models.Model):
    """A key change a policy sends to a second Administrator instead of to Venice.

    It holds the exact intended call (`action`, the key, `payload`: the service's arguments)
    and the key as it was when asked (`before`), so that an approval made after someone else
    changed the key is refused as stale. State changes are conditional updates: one approval,
    one execution, however many clicks or approvers race."""

    State = ChangeRequestState

    class Action(models.TextChoices):
        CREATE = "create", "Create a key"
        UPDATE = "update", "Change a key"
        DELETE = "delete", "Delete a key"
        ROTATE = "rotate", "Rotate a key"

    OPEN_STATES = (ChangeRequestState.PENDING, ChangeRequestState.APPROVED)

    action = models.CharField(max_length=16, choices=Action.choices)
    key_id = models.CharField(max_length=64, blank=True, db_index=True)
    key_description = models.CharField(max_length=128, blank=True)
    key_last6 = models.CharField(max_length=6, blank=True)
    key_type = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    before = models.JSONField(default=dict, blank=True)
    policies = models.JSONField(default=list)  # the names of the policies that asked for it
    reason = models.TextField()

    state = models.CharField(
        max_length=16, choices=ChangeRequestState.choices, default=ChangeRequestState.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_username = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_username = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    result_key_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ChangeRequestState.values), name="change_request_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(action__in=["create", "update", "delete", "rotate"]),
                name="change_request_action_valid",
            ),
            # An approval is never the requester's own.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(decided_by=models.F("requested_by")),
                name="change_request_not_self_decided",
            ),
        ]

    def __str__(self):
        return f"change request {self.pk}: {self.action} {self.key_description or self.key_id}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_past_expiry(self) -> bool:
        return self.expires_at <= timezone.now()
