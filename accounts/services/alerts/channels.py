"""Alert channels: a team mailbox, a Slack or Teams incoming webhook, a generic webhook.

A webhook's URL is a credential (Slack's and Teams' paths are the secret): it is encrypted at
rest, pages show its host only, and no audit record, log line or error holds it. A generic
webhook gets a signing secret (HMAC-SHA256 of each body, docs/alerts.md), shown once when the
channel is made and encrypted like the URL. Creating, deleting and switching off a channel
are audit records; a webhook that answers 410 Gone is switched off, with a notice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.delivery.webhooks import new_signing_secret
from accounts.models import (
    AlertChannel,
    AlertEvent,
    AlertSeverity,
    AlertSystemKind,
    AuditAction,
    ChannelKind,
)
from accounts.roles import ADMINISTRATOR
from accounts.services.alerts.kinds import may_delete_channel, may_manage_channels
from accounts.services.audit import AuditContext, audit_log

CHANNELS_REFUSED = "Your role may not manage alert channels."
CHANNEL_DELETE_REFUSED = "Only an Administrator or whoever added this channel may delete it."
URL_REQUIRED = "Give the webhook's URL."
URL_NOT_HTTPS = "The webhook's URL must start with https://."
URL_INVALID = "That is not a URL the portal can send to."
ADDRESSES_REQUIRED = "Give at least one email address, one per line."
ADDRESS_INVALID = "{address} is not an email address."
NAME_TAKEN = "A channel of that name exists: choose another name."


class AlertChannelError(Exception):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CreatedChannel:
    """The new channel and its signing secret: the only time the secret is seen ("" when the
    kind signs nothing)."""

    channel: AlertChannel
    signing_secret: str = ""


def _check_may_manage(context: AuditContext) -> None:
    if context.user is not None and not may_manage_channels(context.user):
        raise PermissionDenied(CHANNELS_REFUSED)


def _details(channel: AlertChannel) -> dict:
    # The host of a webhook, never its URL (whose path is the credential).
    return {
        "channel": channel.pk,
        "name": channel.name,
        "kind": channel.kind,
        "where": channel.where,
    }


def _kind_word(channel: AlertChannel) -> str:
    """The kind as a sentence says it: "Slack", "Microsoft Teams", "webhook"."""
    label = channel.get_kind_display()
    return label.lower() if channel.kind == ChannelKind.WEBHOOK else label


def webhook_host(url: str) -> str:
    """The URL's host if the portal may send to it, else AlertChannelError (never quoting the
    URL: its path may be the secret)."""
    url = (url or "").strip()
    if not url:
        raise AlertChannelError(URL_REQUIRED, field="url")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise AlertChannelError(URL_INVALID, field="url") from None
    if not host or parts.username or parts.password:
        raise AlertChannelError(URL_INVALID, field="url")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and settings.PORTAL_WEBHOOK_ALLOW_HTTP
    ):
        raise AlertChannelError(URL_NOT_HTTPS, field="url")
    return f"{host}:{parts.port}" if parts.port else host


def clean_addresses(text: str) -> list[str]:
    addresses = []
    for line in (text or "").replace(",", "\n").splitlines():
        address = line.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except DjangoValidationError:
            raise AlertChannelError(
                ADDRESS_INVALID.format(address=address), field="addresses"
            ) from None
        if address.lower() not in {known.lower() for known in addresses}:
            addresses.append(address)
    if not addresses:
        raise AlertChannelError(ADDRESSES_REQUIRED, field="addresses")
    return addresses


def alert_channel_create(
    *, context: AuditContext, kind: str, name: str, url: str = "", addresses: str = ""
) -> CreatedChannel:
    _check_may_manage(context)
    if kind not in ChannelKind.values:
        raise AlertChannelError("Choose a kind of channel.", field="kind")
    channel = AlertChannel(
        name=name.strip()[:80],
        kind=kind,
        created_by=context.user,
        created_by_username=context.username,
    )
    signing_secret = ""
    if kind == ChannelKind.EMAIL:
        channel.email_addresses = "\n".join(clean_addresses(addresses))
    else:
        channel.url_host = webhook_host(url)
        channel.set_url(url.strip())
        if kind == ChannelKind.WEBHOOK:
            signing_secret = new_signing_secret()
            channel.set_signing_secret(signing_secret)
    if not channel.name:
        channel.name = channel.where[:80] or channel.get_kind_display()
    try:
        with transaction.atomic():
            channel.save()
            audit_log(context, action=AuditAction.ALERT_CHANNEL_CREATED, details=_details(channel))
    except IntegrityError:
        raise AlertChannelError(NAME_TAKEN, field="name") from None
    return CreatedChannel(channel=channel, signing_secret=signing_secret)


def alert_channel_delete(*, context: AuditContext, channel: AlertChannel) -> None:
    """Delete a channel: rules stop sending to it; the log keeps its name."""
    if context.user is not None and not may_delete_channel(context.user, channel):
        raise PermissionDenied(CHANNEL_DELETE_REFUSED)
    with transaction.atomic():
        channel = AlertChannel.objects.select_for_update().get(pk=channel.pk)
        audit_log(
            context,
            action=AuditAction.ALERT_CHANNEL_DELETED,
            details={
                **_details(channel),
                "rules": list(channel.rules.values_list("pk", flat=True)),
            },
        )
        channel.delete()


def alert_channel_disable(
    *, context: AuditContext, channel: AlertChannel, reason: str, now=None
) -> bool:
    """Switch a channel off (its webhook answered 410 Gone) and tell whoever added it and the
    Administrators, in the portal and by email. Returns False when it was off already."""
    from accounts.services.alerts.fire import event_record

    now = now or timezone.now()
    with transaction.atomic():
        locked = AlertChannel.objects.select_for_update().get(pk=channel.pk)
        if not locked.enabled:
            return False
        locked.enabled = False
        locked.disabled_at = now
        locked.disabled_reason = reason[:300]
        locked.save(update_fields=["enabled", "disabled_at", "disabled_reason"])
        audit_log(
            context,
            action=AuditAction.ALERT_CHANNEL_DISABLED,
            details={**_details(locked), "reason": reason[:300]},
        )
        told = list(get_user_model().objects.filter(is_active=True, groups__name=ADMINISTRATOR))
        creator = locked.created_by if locked.created_by and locked.created_by.is_active else None
        if creator is not None and creator not in told:
            told.append(creator)
        event_record(
            rule=None,
            kind=AlertSystemKind.CHANNEL_DISABLED,
            subject_key=f"channel:{locked.pk}",
            dedupe_key=f"channel_disabled:{locked.pk}:{now.isoformat()}",
            severity=AlertSeverity.WARNING,
            title=f"The {_kind_word(locked)} channel “{locked.name}” was switched off",
            body=(
                f"Its webhook at {locked.url_host} {reason}, which means it no longer exists. "
                "Add a new channel with a new webhook URL, and choose it in the rules that used "
                "this one."
            ),
            facts={"channel": locked.name, "host": locked.url_host, "reason": reason[:300]},
            link="",
            now=now,
            users=told,
            email_users=[creator] if creator is not None else [],
            channels=(),
        )
    channel.enabled = False
    return True


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    error: str = ""
    event: AlertEvent | None = None


def alert_channel_test(*, context: AuditContext, channel: AlertChannel, now=None) -> TestOutcome:
    """Send the channel a test message now, once (no retries: the person is watching), and
    record it in the log like any firing."""
    from accounts.services.alerts.deliver import delivery_send

    _check_may_manage(context)
    now = now or timezone.now()
    event = channel_test_record(context=context, channel=channel, now=now)
    outcome = None
    for delivery in event.deliveries.select_related("event", "channel"):
        delivery_send(delivery, context=context, now=now, tries=1)
        delivery.refresh_from_db()
        if outcome is None or outcome.ok:
            outcome = TestOutcome(ok=delivery.state == "sent", error=delivery.last_error)
    if outcome is None:
        return TestOutcome(ok=False, error="the channel has no address to send to", event=event)
    return TestOutcome(ok=outcome.ok, error=outcome.error, event=event)


def channel_test_record(*, context: AuditContext, channel: AlertChannel, now) -> AlertEvent:
    """The test message's firing and its deliveries, held (leased) from the start: a
    check_alerts run meanwhile must not send them too."""
    from accounts.services.alerts.deliver import LEASE
    from accounts.services.alerts.fire import event_record

    with transaction.atomic():
        event = event_record(
            rule=None,
            kind=AlertSystemKind.TEST,
            subject_key=f"channel:{channel.pk}",
            dedupe_key=f"test:{uuid.uuid4().hex}",
            severity=AlertSeverity.INFO,
            title=f"Test message to “{channel.name}” from the Venice account portal",
            body=f"{context.username or 'An operator'} sent this to check the channel works.",
            facts={"channel": channel.name, "sent_by": context.username or "system"},
            link="",
            now=now,
            users=(),
            email_users=(),
            channels=[channel],
        )
        event.deliveries.update(lease_until=timezone.now() + LEASE)
    return event
