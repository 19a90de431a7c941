"""Figure 7: check_alerts with 50 rules over 500 keys, its upstream calls and its time.

1. Upstream calls per run: the rules share their reads, so a run makes one call per distinct
   read (endpoint and window), however many rules there are. The 50 rules cover every kind;
   among them a rule on one key's spend per day, the one that needs a second usage-analytics
   window (today alone, besides this month so far: Venice adds a key's usage up over the
   whole window it is asked for). The mix once over (16 rules) makes the same calls.
2. Wall time of a run with a cold cache (every read goes to the sandbox), once the first run
   has fired what was true (later runs fire nothing: the steady state cron sees); the first
   run, which records and emails every firing, is printed beside it.
"""

from __future__ import annotations

from collections import Counter

from bench import env
from bench.harness import Compare, Result, median

KEYS = 500
RULES = 50
RUNS = 9
TARGET_MS = 1000.0
# GET /api_keys, /billing/balance, /api_keys/rate_limits/log, and /billing/usage-analytics
# twice (this month, today).
DISTINCT_READS = 5
FIGURE = "check_alerts, 50 rules over 500 keys"


def _rules(count: int | None, notify) -> int:
    """`count` rules cycling through every kind's variants (None: each variant once)."""
    from accounts.models import AlertKind
    from accounts.services.alerts import alert_rule_create
    from accounts.services.alerts.kinds import KINDS
    from accounts.services.audit import audit_context_for_command

    context = audit_context_for_command(command="bench")
    variants = {
        AlertKind.BALANCE_BELOW: [{"currency": "USD", "amount": "50"}, {"currency": "DIEM"}],
        AlertKind.SPEND_ABOVE: [
            {"period": "day", "usd": "100"},
            {"period": "month", "usd": "1000", "diem": "50"},
            {"period": "day", "usd": "5", "key_id": "bench-key", "key_label": "bench"},
        ],
        AlertKind.KEY_LIMIT: [
            {"thresholds": [80, 90, 100]},
            {"scope": "type", "key_type": "ADMIN"},
        ],
        AlertKind.KEY_EXPIRING: [{"days": 7}, {"days": 30}],
        AlertKind.KEY_UNUSED: [{"days": 30}, {"days": 90}],
        AlertKind.ROTATION_GRACE: [{}],
        AlertKind.ROTATION_FAILED: [{}],
        AlertKind.RATE_LIMITS: [{"count": 5}, {"count": 20}],
        AlertKind.AUDIT_INTEGRITY: [{"chain": True, "drift": True}],
    }
    mix = [(kind, params) for kind, options in variants.items() for params in options]
    count = len(mix) if count is None else count
    for index in range(count):
        kind, params = mix[index % len(mix)]
        alert_rule_create(
            context=context,
            kind=kind,
            name=f"bench rule {index:02d}",
            params={**KINDS[kind].defaults, **params},
            notify_users=notify,
        )
    return count


def _run(sandbox, timer=None):
    from django.core.cache import cache

    from accounts.services.alerts import alerts_check
    from accounts.services.audit import audit_context_for_command

    cache.clear()  # every read from Venice (the sandbox), none from the cache
    if timer is not None:
        timer.reset()
    before = len(sandbox.received)
    seconds, report = env.timed(
        lambda: alerts_check(context=audit_context_for_command(command="check_alerts"))
    )
    calls = Counter(f"{r.method} {r.path}" for r in sandbox.received[before:])
    return seconds, report, calls


def run() -> list[Result]:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from accounts.models import AlertRule

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    env.migrate()
    sandbox = env.fresh_sandbox()
    env.fill_keys(sandbox, KEYS)
    admin, _ = get_user_model().objects.get_or_create(
        username=env.ADMIN_USERNAME, defaults={"email": "bench@example.com"}
    )

    few = _rules(None, [admin])
    _, _, few_calls = _run(sandbox)
    AlertRule.objects.all().delete()
    _rules(RULES, [admin])
    first_seconds, first, first_calls = _run(sandbox)
    times, upstream, calls = [], [], []
    timer = env.UpstreamTimer()
    try:
        for _ in range(RUNS):
            seconds, report, counted = _run(sandbox, timer)
            if report.fired or report.broken or report.skipped:
                raise RuntimeError(f"a steady-state run fired or failed: {report}")
            times.append(seconds * 1000)
            upstream.append(timer.seconds * 1000)
            calls.append(counted)
    finally:
        timer.close()
    if any(counted != first_calls for counted in [few_calls, *calls]):
        raise RuntimeError(f"runs made different calls: {few_calls}, {first_calls}, {calls}")
    total = sum(first_calls.values())
    by_endpoint = ", ".join(f"{name} ×{n}" for name, n in sorted(first_calls.items()))
    return [
        Result(
            figure=f"{FIGURE}: upstream calls per run",
            value=total,
            unit="calls",
            limit=DISTINCT_READS,
            compare=Compare.EQUAL,
            decimals=0,
            note=(
                f"{len(first_calls)} endpoints: {by_endpoint}; the same with {few} rules "
                "(each variant once)"
            ),
        ),
        Result(
            figure=f"{FIGURE}: wall time per run (cold cache), median",
            value=median(times),
            unit="ms",
            limit=TARGET_MS,
            compare=Compare.AT_MOST,
            note=(
                f"median of {RUNS} runs that fire nothing, {median(upstream):.0f} ms of it in the "
                "client's exchanges with the sandbox (which sums 500 keys' usage); the first "
                f"run fired "
                f"{len(first.fired)} and sent {first.deliveries.sent} in "
                f"{first_seconds * 1000:.0f} ms"
            ),
        ),
    ]
