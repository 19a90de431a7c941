"""Sending what firings owe: each delivery record tried up to TRIES times, RETRY_AFTER apart.

check_alerts runs every five minutes, so a delivery that fails is left for a later run
(`next_attempt_at`): three tries over about fifteen minutes (now, +5 min, +10 min), then it is
marked failed. No queue of our own: the delivery records are the queue, and a run claims each
one with a short lease (a conditional UPDATE, after `SELECT ... FOR UPDATE SKIP LOCKED` where
the database has it) before it sends, so two runs at once never send the same one twice.

Every try is an AlertAttempt. A webhook answering 410 Gone switches its channel off (with a
notice) and is not tried again; nor is anything else still owed to that channel.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.delivery import post_webhook, sign
from accounts.delivery.webhooks import SIGNATURE_HEADER
from accounts.models import (
    AlertAttempt,
    AlertChannel,
    AlertDelivery,
    ChannelKind,
    DeliveryState,
)
from accounts.services.alerts.messages import (
    email_message,
    encode,
    generic_payload,
    slack_payload,
    teams_payload,
)
from accounts.services.audit import AuditContext

logger = logging.getLogger(__name__)

TRIES = 3
RETRY_AFTER = (timedelta(minutes=5), timedelta(minutes=10))  # after the 1st and 2nd tries
LEASE = timedelta(minutes=2)
OWED = (DeliveryState.PENDING, DeliveryState.RETRYING)

CHANNEL_GONE = "the channel was deleted"
CHANNEL_OFF = "the channel is switched off"
CANNOT_DECRYPT = (
    "the channel's webhook URL cannot be decrypted with PORTAL_ENCRYPTION_KEY (was the key "
    "changed without keeping the old one? see docs/deploy.md)"
)
NO_ADDRESS = "no email address"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    disabled_channels: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.disabled_channels += other.disabled_channels


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status: int | None = None
    error: str = ""
    duration_ms: int = 0
    gone: bool = False
    final: bool = False  # trying again cannot help


def _lease_free(real_now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=real_now)


def deliveries_send_due(
    *, context: AuditContext, now: datetime, limit: int = 500, tries: int = TRIES
) -> DeliveryReport:
    """Send every delivery due by `now` that no other run holds."""
    report = DeliveryReport()
    real_now = timezone.now()
    due = Q(state__in=OWED, next_attempt_at__lte=now)
    with transaction.atomic():
        candidates = list(
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .filter(due)
            .filter(_lease_free(real_now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
    for pk in candidates:
        # One winner: the run whose conditional update takes the lease sends it.
        claimed = (
            AlertDelivery.objects.filter(pk=pk)
            .filter(due)
            .filter(_lease_free(timezone.now()))
            .update(lease_until=timezone.now() + LEASE)
        )
        if not claimed:
            continue
        delivery = AlertDelivery.objects.select_related("event__rule", "channel").get(pk=pk)
        report.add(delivery_send(delivery, context=context, now=now, tries=tries))
    return report


def delivery_send(
    delivery: AlertDelivery, *, context: AuditContext, now: datetime, tries: int = TRIES
) -> DeliveryReport:
    """One try at a (claimed) delivery, recorded; then sent, scheduled again, or failed."""
    report = DeliveryReport()
    outcome = _try(delivery)
    delivery.attempts += 1
    AlertAttempt.objects.create(
        delivery=delivery,
        at=now,
        ok=outcome.ok,
        status_code=outcome.status,
        error=outcome.error[:500],
        duration_ms=outcome.duration_ms,
    )
    delivery.lease_until = None
    delivery.last_error = outcome.error[:500]
    if outcome.ok:
        delivery.state, delivery.sent_at, delivery.next_attempt_at = DeliveryState.SENT, now, None
        report.sent += 1
    elif outcome.final or outcome.gone or delivery.attempts >= tries:
        delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
        report.failed += 1
    else:
        delivery.state = DeliveryState.RETRYING
        wait = RETRY_AFTER[min(delivery.attempts, len(RETRY_AFTER)) - 1]
        delivery.next_attempt_at = now + wait
        report.retrying += 1
    delivery.save(
        update_fields=[
            "attempts",
            "state",
            "sent_at",
            "next_attempt_at",
            "lease_until",
            "last_error",
        ]
    )
    if outcome.gone and delivery.channel is not None:
        if _switch_off(delivery, context=context, now=now, reason=outcome.error):
            report.disabled_channels.append(delivery.channel.name)
    return report


def _switch_off(delivery: AlertDelivery, *, context: AuditContext, now, reason: str) -> bool:
    from accounts.services.alerts.channels import alert_channel_disable

    channel = delivery.channel
    switched = alert_channel_disable(context=context, channel=channel, reason=reason, now=now)
    # Nothing more goes to a webhook that is gone.
    AlertDelivery.objects.filter(channel=channel, state__in=OWED).exclude(pk=delivery.pk).update(
        state=DeliveryState.FAILED, last_error=CHANNEL_OFF, next_attempt_at=None
    )
    return switched


def _try(delivery: AlertDelivery) -> _Outcome:
    channel = delivery.channel
    if delivery.channel_kind == ChannelKind.EMAIL:
        if not delivery.recipient:
            return _Outcome(ok=False, error=NO_ADDRESS, final=True)
        return _send_email(delivery)
    if channel is None:
        return _Outcome(ok=False, error=CHANNEL_GONE, final=True)
    if not channel.enabled:
        return _Outcome(ok=False, error=CHANNEL_OFF, final=True)
    return _send_webhook(delivery, channel)


def _send_email(delivery: AlertDelivery) -> _Outcome:
    subject, text, html = email_message(delivery.event)
    message = EmailMultiAlternatives(subject, text, None, [delivery.recipient])
    message.attach_alternative(html, "text/html")
    started = time.monotonic()
    try:
        message.send()
    except (OSError, ValueError) as failure:  # smtplib's errors are OSErrors
        error = type(failure).__name__
        if str(failure):
            error = f"{error}: {failure}"
        logger.warning("Alert email %s could not be sent: %s", delivery.pk, error[:300])
        return _Outcome(ok=False, error=error[:500], duration_ms=_ms(started))
    return _Outcome(ok=True, duration_ms=_ms(started))


def _send_webhook(delivery: AlertDelivery, channel: AlertChannel) -> _Outcome:
    event = delivery.event
    sent_at = timezone.now()
    if channel.kind == ChannelKind.SLACK:
        payload = slack_payload(event)
    elif channel.kind == ChannelKind.TEAMS:
        payload = teams_payload(event)
    else:
        payload = generic_payload(event, delivery, sent_at)
    body = encode(payload)
    try:
        url = channel.url()
        secret = channel.signing_secret()
    except InvalidToken:
        return _Outcome(ok=False, error=CANNOT_DECRYPT, final=True)
    headers = {
        "X-Portal-Event": "alert.test" if event.is_test else "alert.fired",
        "X-Portal-Delivery": str(delivery.pk),
        "X-Portal-Timestamp": str(int(sent_at.timestamp())),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    result = post_webhook(
        url,
        body,
        headers=headers,
        read_timeout=settings.PORTAL_WEBHOOK_TIMEOUT,
        ca_bundle=settings.PORTAL_WEBHOOK_CA_BUNDLE,
    )
    if not result.ok:
        # The channel's name, never its URL.
        logger.warning("Alert webhook %s (%s): %s", delivery.pk, channel.name, result.error)
    return _Outcome(
        ok=result.ok,
        status=result.status,
        error=result.error,
        duration_ms=result.duration_ms,
        gone=result.gone,
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
