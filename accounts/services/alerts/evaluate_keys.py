"""Key rules: usage near the consumption limit (thresholds per limit period), expiring and
expired keys, keys unused for some days."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from accounts.models import AuditEvent, AuditOutcome, Rotation
from accounts.selectors.audit import DELETE_ACTIONS
from accounts.services.alerts.evaluate_common import (
    CRITICAL,
    INFO,
    WARNING,
    Observation,
    in_words,
    key_facts,
    key_name,
    key_url,
    scoped,
    when,
)
from accounts.services.alerts.inputs import AlertInputs
from accounts.services.alerts.kinds import money
from accounts.venice import LimitPeriod

# How long a key Venice stopped listing at its expiry is remembered after it was told.
EXPIRED_REMEMBERED = timedelta(days=30)
EXPIRING = 1
EXPIRED = 2


def _period_label(period: LimitPeriod, now: datetime) -> str:
    if period == LimitPeriod.EPOCH:
        return now.strftime("%Y-%m-%d")
    if period == LimitPeriod.MONTH:
        return now.strftime("%Y-%m")
    return "lifetime"


def _percent(used: Decimal, limit: Decimal) -> Decimal:
    if not limit:
        return Decimal(100) if used else Decimal(0)
    return used * 100 / limit


def key_limit(params, inputs: AlertInputs, states):
    thresholds = sorted({int(t) for t in params.get("thresholds") or []})
    for key in scoped(params, inputs):
        usage, limits = key.current_period_usage, key.consumption_limits
        if usage is None or limits.is_unlimited:
            continue
        shares = [
            (_percent(getattr(usage, currency), limit), currency, getattr(usage, currency), limit)
            for currency, limit in (("usd", limits.usd), ("diem", limits.diem))
            if limit is not None
        ]
        percent, currency, used, limit = max(shares)
        level = max((t for t in thresholds if percent >= t), default=0)
        period = _period_label(key.limit_period, inputs.now)
        if not level:
            # Clear: re-arms a state if there is one; nothing a message needs to be built.
            yield Observation(f"key:{key.id}", 0, period=period)
            continue
        shown = int(percent)
        yield Observation(
            f"key:{key.id}",
            level,
            period=period,
            severity=CRITICAL if level >= 100 else WARNING,
            title=(
                f"Key {key_name(key)} is at {shown} % of its {currency.upper()} limit "
                f"({money(used, currency)} of {money(limit, currency)})"
            ),
            body=(
                "Venice refuses the key's requests once it reaches its limit, until the period "
                "ends."
                if key.limit_period != LimitPeriod.LIFETIME
                else "Venice refuses the key's requests once it reaches its lifetime limit."
            ),
            facts={
                **key_facts(key),
                "currency": currency.upper(),
                "used": str(used),
                "limit": str(limit),
                "percent": shown,
                "threshold": level,
                "limit_period": key.limit_period.value,
            },
            link=key_url(key.id),
        )


def _retiring_key_ids() -> set[str]:
    """Old keys in a rotation's grace period: they expire on purpose (the rotation rules
    watch those), so the expiry rule leaves them alone."""
    return set(
        Rotation.objects.filter(state=Rotation.State.GRACE).values_list("old_key_id", flat=True)
    )


def key_expiring(params, inputs: AlertInputs, states):
    days = int(params.get("days") or 0)
    now = inputs.now
    horizon = now + timedelta(days=days)
    retiring = _retiring_key_ids()
    listed = set()
    for key in scoped(params, inputs):
        listed.add(key.id)
        if key.id in retiring:
            continue
        subject = f"key:{key.id}"
        expires = key.expires_at
        if expires is None or expires > horizon:
            yield Observation(subject, 0)
            continue
        memory = {
            "expires_at": expires.isoformat(),
            "description": key.description,
            "last6": key.last6,
        }
        if expires <= now:
            yield _expired(subject, memory, key.id, now)
            continue
        yield Observation(
            subject,
            EXPIRING,
            severity=CRITICAL if expires - now < timedelta(days=1) else WARNING,
            title=f"Key {key_name(key)} expires {in_words(expires - now)} ({when(expires)})",
            body="Venice refuses a key after its expiry. Rotate it, or set a later expiry.",
            facts={**key_facts(key), "expires_at": expires.isoformat()},
            link=key_url(key.id),
            data=memory,
            keep=True,
        )
    # Venice stops listing a key once it expires: what the states remember tells "expired"
    # from "deleted" (no news: it went through the portal, or drift tells it). A key gone
    # before its expiry was deleted; one gone after it expired, unless the portal deleted it.
    missing = {
        subject.removeprefix("key:"): state
        for subject, state in states.items()
        if subject.removeprefix("key:") not in listed | retiring
        and (state.data or {}).get("expires_at")
        and datetime.fromisoformat(state.data["expires_at"]) <= now
    }
    deleted = (
        set(
            AuditEvent.objects.filter(
                key_id__in=list(missing), action__in=DELETE_ACTIONS, outcome=AuditOutcome.SUCCEEDED
            ).values_list("key_id", flat=True)
        )
        if missing
        else set()
    )
    for key_id, state in missing.items():
        expires = datetime.fromisoformat(state.data["expires_at"])
        if key_id not in deleted and now - expires < EXPIRED_REMEMBERED:
            yield _expired(f"key:{key_id}", state.data, key_id, now)


def _expired(subject: str, memory: dict, key_id: str, now: datetime) -> Observation:
    expires = datetime.fromisoformat(memory["expires_at"])
    name = f"“{memory.get('description', '')}” (…{memory.get('last6', '')})"
    return Observation(
        subject,
        EXPIRED,
        severity=CRITICAL,
        title=f"Key {name} expired on {when(expires)}",
        body="Venice refuses its requests now. Create or rotate in a replacement.",
        facts={
            "key_id": key_id,
            "key_description": memory.get("description", ""),
            "key_last6": memory.get("last6", ""),
            "expires_at": expires.isoformat(),
        },
        link=key_url(key_id),
        data=memory,
        keep=True,
    )


def key_unused(params, inputs: AlertInputs, states):
    days = int(params.get("days") or 0)
    now = inputs.now
    for key in scoped(params, inputs):
        seen = key.last_used_at or key.created_at
        if seen is None:
            continue
        idle = now - seen
        if idle < timedelta(days=days):
            yield Observation(f"key:{key.id}", 0)
            continue
        if key.last_used_at is None:
            title = f"Key {key_name(key)} was never used (created {idle.days} days ago)"
        else:
            title = f"Key {key_name(key)} has not been used for {idle.days} days"
        yield Observation(
            f"key:{key.id}",
            1,
            severity=INFO,
            title=title,
            body="A key nobody uses is a secret nobody watches: delete it if it is not needed.",
            facts={
                **key_facts(key),
                "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
                "created_at": key.created_at.isoformat() if key.created_at else None,
                "idle_days": idle.days,
            },
            link=key_url(key.id),
        )
