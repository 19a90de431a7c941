"""Alerts: rules, the channels they notify, the episodes they track, and every firing and
delivery attempt (the notification log).

Venice has no webhooks, so `manage.py check_alerts` watches the account and tells people. The
records here are the portal's own: what a rule asks, what was true when it fired, to whom it
went and how that went. Webhook URLs and signing secrets are stored encrypted
(accounts/crypto.py) and shown once, at creation; nothing else here is a secret.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts import crypto


class AlertKind(models.TextChoices):
    BALANCE_BELOW = "balance_below", "Balance below"
    SPEND_ABOVE = "spend_above", "Spend above"
    KEY_LIMIT = "key_limit", "Key near its consumption limit"
    KEY_EXPIRING = "key_expiring", "Key expiring"
    KEY_UNUSED = "key_unused", "Key unused"
    ROTATION_GRACE = "rotation_grace", "Rotation grace ending while the old key is in use"
    ROTATION_FAILED = "rotation_failed", "Rotation failed or left unfinished"
    RATE_LIMITS = "rate_limits", "Rate-limit violations"
    AUDIT_INTEGRITY = "audit_integrity", "Audit integrity"
    TEAM_BUDGET = "team_budget", "Team spend against its monthly budget"


class AlertSystemKind(models.TextChoices):
    """Firings no rule makes: the portal telling about itself."""

    VENICE_UNAVAILABLE = "venice_unavailable", "Venice could not be read"
    CHANNEL_DISABLED = "channel_disabled", "Channel switched off"
    TEST = "test", "Test message"
    APPROVAL = "approval", "Change request"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    WEBHOOK = "webhook", "Webhook"


class AlertChannel(models.Model):
    """Somewhere a firing is sent besides the named members: a team mailbox, a Slack or Teams
    incoming webhook, or a generic webhook (signed with HMAC-SHA256, docs/alerts.md).

    The webhook URL (whose path is its credential) and the signing secret are encrypted at
    rest; pages show the URL's host only, and the secret once, when the channel is made."""

    Kind = ChannelKind

    # Unique: deliveries and the rule form name a channel by it.
    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    # Email channels: addresses, one per line. Not secrets.
    email_addresses = models.TextField(blank=True)
    url_encrypted = models.TextField(blank=True)
    url_host = models.CharField(max_length=255, blank=True)
    secret_encrypted = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ChannelKind.values), name="alert_channel_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} channel {self.name}"

    @property
    def is_webhook(self) -> bool:
        return self.kind != ChannelKind.EMAIL

    @property
    def addresses(self) -> list[str]:
        return [line.strip() for line in self.email_addresses.splitlines() if line.strip()]

    def url(self) -> str:
        return crypto.decrypt(self.url_encrypted) if self.url_encrypted else ""

    def signing_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    def set_url(self, url: str) -> None:
        self.url_encrypted = crypto.encrypt(url)

    def set_signing_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret) if secret else ""

    @property
    def where(self) -> str:
        """What a page may show of where it goes: addresses, or the webhook's host."""
        if self.kind == ChannelKind.EMAIL:
            return ", ".join(self.addresses)
        return self.url_host


class AlertRule(models.Model):
    """A condition to watch (`kind` with its `params`), who is told (`notify_users`, by email
    when `email_users` and always in the portal) and where else (`channels`)."""

    Kind = AlertKind

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    # The kind's parameters (accounts/services/alerts/kinds.py says which); amounts as text.
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="alert_rules"
    )
    email_users = models.BooleanField(default=True)
    channels = models.ManyToManyField(AlertChannel, blank=True, related_name="rules")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="alert_kind_valid"),
        ]

    def __str__(self):
        return f"alert rule {self.pk} {self.name}"


class AlertState(models.Model):
    """One rule's memory of one subject (the account, a key, a rotation) between runs: the
    episode that makes a condition fire once while it stays true.

    `level` is how far the condition was told (0: clear, re-armed; a key-limit threshold such
    as 90; 1 or 2 for steps such as "expiring" then "expired"); `period` is the limit or spend
    period the level belongs to, so a new period re-arms it. `episode` counts firings and names
    the next one (AlertEvent.dedupe_key). The system's own conditions (Venice unreadable) have
    no rule."""

    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="states"
    )
    subject = models.CharField(max_length=200)
    level = models.IntegerField(default=0)
    period = models.CharField(max_length=32, blank=True)
    episode = models.PositiveIntegerField(default=0)
    # What the next evaluation needs to remember (a key's expiry after Venice stops listing
    # it, a drift baseline); never a secret.
    data = models.JSONField(default=dict, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], name="alert_state_one_per_subject"),
            models.UniqueConstraint(
                fields=["subject"],
                condition=Q(rule__isnull=True),
                name="alert_state_one_per_system_subject",
            ),
        ]

    def __str__(self):
        return f"alert state {self.rule_id}:{self.subject} level {self.level}"


class AlertEvent(models.Model):
    """One firing: what was true, when, for which rule (its name kept if the rule goes)."""

    Severity = AlertSeverity

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    rule_name = models.CharField(max_length=120, blank=True)
    # A rule's kind (AlertKind) or the system's (AlertSystemKind).
    kind = models.CharField(max_length=24)
    subject_key = models.CharField(max_length=200)
    # "<rule id>:<subject>:<episode>": two runs that both decide to fire insert the same key,
    # and the database lets only one of them.
    dedupe_key = models.CharField(max_length=260, unique=True)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True)
    # The page that explains it (a path; emails and webhooks make it absolute).
    link = models.CharField(max_length=300, blank=True)
    fired_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=AlertSeverity.values), name="alert_event_severity_valid"
            ),
        ]

    def __str__(self):
        return f"alert {self.pk} {self.title}"

    @property
    def kind_label(self) -> str:
        if self.kind in AlertKind.values:
            return AlertKind(self.kind).label
        if self.kind in AlertSystemKind.values:
            return AlertSystemKind(self.kind).label
        return self.kind

    @property
    def is_test(self) -> bool:
        return self.kind == AlertSystemKind.TEST


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RETRYING = "retrying", "Will retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertDelivery(models.Model):
    """One firing to one place: an email address or a channel. Sent by check_alerts (the run
    that fired it, and later runs while it is retried: `next_attempt_at`), each try an
    AlertAttempt. A run claims a delivery with a short lease before it sends, so two runs at
    once never send it twice."""

    State = DeliveryState

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        AlertChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # ChannelKind: an email to a member is "email" without a channel.
    channel_kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    # An email address, or the channel's name (never its URL).
    recipient = models.CharField(max_length=254)
    state = models.CharField(max_length=10, choices=DeliveryState.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="alert_delivery_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=DeliveryState.values), name="alert_delivery_state_valid"
            ),
            models.UniqueConstraint(
                fields=["event", "channel_kind", "recipient"], name="alert_delivery_once"
            ),
        ]

    def __str__(self):
        return f"delivery {self.pk} of alert {self.event_id} to {self.recipient} ({self.state})"

    @property
    def state_badge(self) -> str:
        return {
            DeliveryState.SENT: "ok",
            DeliveryState.FAILED: "danger",
            DeliveryState.RETRYING: "warn",
        }.get(self.state, "")


class AlertAttempt(models.Model):
    """One try at a delivery: when, what came back (status code or why not), how long."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"attempt {self.pk} of delivery {self.delivery_id}"


class AlertNotification(models.Model):
    """The bell: a firing shown in the portal to a member a rule names, until they read it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_notifications"
    )
    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="alert_notification_unread")]
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="alert_notification_once"),
        ]

    def __str__(self):
        return f"notification of alert {self.event_id} for user {self.user_id}"


class AlertLease(models.Model):
    """Who is evaluating the rules now: one check_alerts run at a time, across machines. A
    run takes the row with a conditional UPDATE; a run that dies lets it run out."""

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self):
        return f"lease {self.name} until {self.until}"
