"""One check_alerts run: read what the rules need, evaluate every rule, fire what became true,
then send what is owed.

Once per episode: a subject's state remembers how far its condition was told (`level`) and in
which period. A run fires only when the condition goes further than told (clear → true, or a
higher threshold); it re-arms when the condition clears, or when the period rolls over (a new
day or month for spend and key limits). So a low balance is told once, not every five minutes,
and told again after it was topped up and ran low once more.

Several machines may run it at once: one run at a time evaluates (a lease row taken with a
conditional UPDATE; the others only send), each firing has a unique `dedupe_key` the database
enforces, and deliveries are claimed one by one (deliver.py). A Venice that cannot be read
is one notification (its own episode), not one per rule; the rules that needed it keep their
states untouched until it can be read again.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    AlertEvent,
    AlertLease,
    AlertRule,
    AlertSeverity,
    AlertState,
    AlertSystemKind,
)
from accounts.services.alerts.deliver import DeliveryReport, deliveries_send_due
from accounts.services.alerts.evaluate import Observation, evaluate
from accounts.services.alerts.fire import event_record, rule_recipients
from accounts.services.alerts.inputs import READ_LABELS, AlertInputs, alert_inputs_read
from accounts.services.alerts.kinds import rule_needs
from accounts.services.audit import AuditContext
from accounts.venice import VeniceClient, get_client

logger = logging.getLogger(__name__)

LEASE_NAME = "check_alerts"
# Longer than a run takes, shorter than the five minutes between runs: a run that died is
# replaced by the next one.
LEASE = timedelta(minutes=4)
VENICE_SUBJECT = "venice"


@dataclass
class CheckReport:
    evaluated: bool = True  # False: another run was evaluating; this one only sent
    rules: int = 0  # rules evaluated
    skipped: list[AlertRule] = field(default_factory=list)  # not evaluated: Venice unread
    fired: list[AlertEvent] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # rules whose evaluation raised
    upstream_error: str = ""
    deliveries: DeliveryReport = field(default_factory=DeliveryReport)


def alerts_now(client: VeniceClient | None = None) -> datetime:
    """The time rules are evaluated at: Venice's. In sandbox mode that is the sandbox's clock
    (real time unless a test or demo moves it), so periods, expiries and retries follow it."""
    client = client or get_client()
    if client.is_sandbox and client.sandbox is not None:
        return client.sandbox.clock.now()
    return timezone.now()


def alerts_check(
    *, context: AuditContext, now: datetime | None = None, client: VeniceClient | None = None
) -> CheckReport:
    client = client or get_client()
    now = now or alerts_now(client)
    report = CheckReport()
    holder = uuid.uuid4().hex
    if _lease_take(holder):
        try:
            _evaluate_all(report, now=now, client=client)
        finally:
            _lease_release(holder)
    else:
        report.evaluated = False
    report.deliveries = deliveries_send_due(context=context, now=now)
    # A notice made while sending (a webhook gone, its channel switched off) goes out now too.
    report.deliveries.add(deliveries_send_due(context=context, now=now))
    return report


# --- the lease ------------------------------------------------------------------------------


def _lease_take(holder: str) -> bool:
    real_now = timezone.now()
    free = Q(until__isnull=True) | Q(until__lt=real_now)
    for _ in range(2):
        taken = (
            AlertLease.objects.filter(name=LEASE_NAME)
            .filter(free)
            .update(holder=holder, until=real_now + LEASE)
        )
        if taken:
            return True
        if AlertLease.objects.filter(name=LEASE_NAME).exists():
            return False
        try:
            with transaction.atomic():
                AlertLease.objects.create(name=LEASE_NAME)  # free; the update takes it
        except IntegrityError:
            pass  # another run made it first
    return False


def _lease_release(holder: str) -> None:
    AlertLease.objects.filter(name=LEASE_NAME, holder=holder).update(until=None, holder="")


# --- evaluating -----------------------------------------------------------------------------


def _evaluate_all(report: CheckReport, *, now: datetime, client: VeniceClient) -> None:
    rules = list(
        AlertRule.objects.filter(enabled=True)
        .prefetch_related("notify_users", "channels")
        .order_by("pk")
    )
    needs: set[str] = set().union(*(rule_needs(rule) for rule in rules))
    inputs = alert_inputs_read(needs=needs, now=now, client=client)
    states: dict[int, dict[str, AlertState]] = defaultdict(dict)
    for state in AlertState.objects.filter(rule__in=rules):
        states[state.rule_id][state.subject] = state
    for rule in rules:
        if not inputs.available(rule_needs(rule)):
            report.skipped.append(rule)
            continue
        try:
            observations = evaluate(rule, inputs, states[rule.pk])
            with transaction.atomic():
                report.fired += _apply(rule, observations, states[rule.pk], now)
        except IntegrityError:
            # Another run fired the same episode first (the lease ran out mid-run): its
            # firing stands, this one's is rolled back.
            logger.warning("Rule %s: another check_alerts run fired it first", rule.pk)
            states[rule.pk] = {s.subject: s for s in AlertState.objects.filter(rule=rule)}
        except Exception:
            # One broken rule must not silence the others; the run reports it and exits 1.
            logger.exception("Rule %s could not be evaluated", rule.pk)
            report.broken.append(rule.name)
            continue
        report.rules += 1
    _venice_episode(report, inputs, needs, now)


def _apply(
    rule: AlertRule, observations: list[Observation], states: dict[str, AlertState], now
) -> list[AlertEvent]:
    fired = []
    seen = set()
    for observation in observations:
        seen.add(observation.subject)
        state = states.get(observation.subject)
        if state is None:
            if observation.level == 0 and not observation.keep:
                continue  # clear and nothing to remember: no row for it
            state = AlertState(rule=rule, subject=observation.subject, period=observation.period)
        told = state.level if state.period == observation.period else 0  # a new period re-arms
        fire = observation.level > told
        data = state.data if observation.data is None else observation.data
        changed = (
            state.pk is None
            or state.level != observation.level
            or state.period != observation.period
            or data != state.data
        )
        state.level, state.period, state.data = observation.level, observation.period, data
        if fire:
            state.episode += 1
        if changed or fire:
            state.changed_at = now
            state.save()
            states[observation.subject] = state
        if fire:
            fired.append(_fire(rule, state, observation, now))
    gone = [state.pk for subject, state in states.items() if subject not in seen and state.pk]
    if gone:
        # The key or rotation is gone (or out of the rule's scope): forget it.
        AlertState.objects.filter(pk__in=gone).delete()
        for subject in [subject for subject in states if subject not in seen]:
            del states[subject]
    return fired


def _fire(rule: AlertRule, state: AlertState, observation: Observation, now) -> AlertEvent:
    users, emailed, channels = rule_recipients(rule)
    return event_record(
        rule=rule,
        kind=rule.kind,
        subject_key=observation.subject,
        dedupe_key=f"{rule.pk}:{state.pk}:{state.episode}",
        severity=observation.severity,
        title=observation.title,
        body=observation.body,
        facts=observation.facts,
        link=observation.link,
        now=now,
        users=users,
        email_users=emailed,
        channels=channels,
    )


def _venice_episode(report: CheckReport, inputs: AlertInputs, needs: set[str], now) -> None:
    """Venice unreadable is one episode of its own, told to everyone the skipped rules name."""
    if not needs:
        return
    state = AlertState.objects.filter(rule__isnull=True, subject=VENICE_SUBJECT).first()
    error = inputs.error
    if error is None:
        if state is not None and state.level:
            state.level, state.changed_at = 0, now
            state.save(update_fields=["level", "changed_at"])
        return
    report.upstream_error = error.user_message
    if state is not None and state.level:
        return  # told already in this episode
    users, emailed, channels = {}, {}, {}
    for rule in report.skipped:
        rule_users, rule_emailed, rule_channels = rule_recipients(rule)
        users.update({user.pk: user for user in rule_users})
        emailed.update({user.pk: user for user in rule_emailed})
        channels.update({channel.pk: channel for channel in rule_channels})
    reads = [READ_LABELS[need] for need in inputs.failed]
    try:
        with transaction.atomic():
            if state is None:
                state = AlertState.objects.create(rule=None, subject=VENICE_SUBJECT)
            state.level, state.episode, state.changed_at = 1, state.episode + 1, now
            state.data = {"error": error.message[:300]}
            state.save()
            report.fired.append(
                event_record(
                    rule=None,
                    kind=AlertSystemKind.VENICE_UNAVAILABLE,
                    subject_key=VENICE_SUBJECT,
                    dedupe_key=f"system:{state.pk}:{state.episode}",
                    severity=AlertSeverity.WARNING,
                    title=(
                        f"Venice could not be read: {len(report.skipped)} alert rule(s) "
                        "were not checked"
                    ),
                    body=(
                        f"{error.user_message} The rules are checked again on every run; "
                        "this is told once until Venice answers again."
                    ),
                    facts={
                        "error": error.message[:300],
                        "status": error.status,
                        "not_read": reads,
                        "rules_not_checked": [rule.name for rule in report.skipped],
                    },
                    link=reverse("dashboard"),
                    now=now,
                    users=users.values(),
                    email_users=emailed.values(),
                    channels=channels.values(),
                )
            )
    except IntegrityError:
        logger.warning("Another check_alerts run told Venice's outage first")
