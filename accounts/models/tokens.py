"""Personal access tokens for the portal API, and the answers kept for idempotent requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessToken(models.Model):
    """A member's token for /api/v1/: `vpt_<prefix>_<secret>`, shown once.

    Only the prefix (to find the row) and the SHA-256 of the whole token (to check it) are
    stored. The token acts as its member with its own role, which is never more than the
    member's: a deactivated member's tokens stop working, and so does a token whose role the
    member no longer holds (services/tokens.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"token {self.prefix} “{self.name}” of {self.user_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


class IdempotentRequest(models.Model):
    """The first answer to an API request sent with an Idempotency-Key, so that the same
    request sent again gets that answer back instead of a second key or rotation. A created
    key's secret is never kept: the repeat says the secret was shown once."""

    token = models.ForeignKey(AccessToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    # What the request was (method, path, body): the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # null while in progress
    body = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotent_request_once"),
        ]

    def __str__(self):
        return f"idempotent request {self.key} of token {self.token_id}"
