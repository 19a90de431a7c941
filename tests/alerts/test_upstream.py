"""What check_alerts asks of Venice: each read once per run whatever the rules, through the
client's cache and breaker; a Venice that is down is one notification, not one per rule, and
never enough failed requests to get the portal's key blocked."""

from collections import Counter
from datetime import timedelta

import pytest

from accounts.models import AlertEvent, AlertKind, AlertState, AlertSystemKind
from accounts.sandbox.rules import FAILED_REQUESTS_LIMIT

pytestmark = pytest.mark.django_db


def _reads(sandbox, since: int) -> Counter:
    return Counter(f"{r.method} {r.path}" for r in sandbox.received[since:])


@pytest.fixture
def every_kind(make_rule, kim):
    """Rules of every kind, several of some, one of which reads one key's spend per day."""

    def make(copies: int = 1):
        for copy in range(copies):
            for kind in AlertKind:
                make_rule(kind, name=f"{kind} {copy}", notify=[kim])
        make_rule(
            AlertKind.SPEND_ABOVE,
            period="day",
            key_id="k",
            key_label="k",
            name=f"key day {copies}",
            notify=[kim],
        )

    return make


def test_one_run_reads_each_endpoint_once_however_many_rules(every_kind, check_alerts, sandbox):
    every_kind(copies=1)
    before = len(sandbox.received)
    check_alerts()
    few = _reads(sandbox, before)
    every_kind(copies=4)  # 40 more rules
    before = len(sandbox.received)
    check_alerts()
    many = _reads(sandbox, before)
    assert few == many
    assert many == {
        "GET /api_keys": 1,
        "GET /billing/balance": 1,
        # This month so far, and today alone (for the rule on one key's daily spend: Venice's
        # analytics add a key's usage up over the whole window they are asked for).
        "GET /billing/usage-analytics": 2,
        "GET /api_keys/rate_limits/log": 1,
    }


def test_runs_within_the_cache_ttl_read_nothing_again(every_kind, check_alerts, sandbox, settings):
    every_kind()
    settings.VENICE_CACHE_TTL = 30
    check_alerts()
    before = len(sandbox.received)
    check_alerts()
    assert len(sandbox.received) == before


def test_a_venice_outage_is_one_notification_not_one_per_rule(
    every_kind, check_alerts, sandbox, kim, alert_clock
):
    every_kind(copies=2)
    sandbox.faults.inject("*", "*", status=503)
    before = len(sandbox.received)
    reports = [check_alerts() for _ in range(10)]
    outage = AlertEvent.objects.filter(kind=AlertSystemKind.VENICE_UNAVAILABLE)
    assert outage.count() == 1
    event = outage.get()
    assert event.severity == "warning"
    assert event.title.startswith("Venice could not be read:")
    assert "were not checked" in event.title
    assert list(event.notifications.values_list("user__username", flat=True)) == ["kim"]
    assert [len(r.fired) for r in reports] == [1] + [0] * 9
    # The rules that need no Venice read (rotations, the audit chain) still ran.
    assert all(r.rules > 0 for r in reports)
    # Nowhere near Venice's limit of failed requests (the first read fails, the rest wait;
    # then the circuit breaker holds the calls back).
    failed = len(sandbox.received) - before
    assert failed <= 6 < FAILED_REQUESTS_LIMIT
    assert sandbox._blocked_until_ms == 0

    sandbox.faults.clear()
    alert_clock.advance(timedelta(minutes=1))
    from accounts.venice import get_client

    get_client().breaker.reset()
    report = check_alerts()
    assert not report.upstream_error
    assert AlertState.objects.get(rule=None, subject="venice").level == 0
    # Down again later: a new episode, told again.
    sandbox.faults.inject("*", "*", status=503)
    get_client().breaker.reset()
    check_alerts()
    assert outage.count() == 2


def test_rules_venice_could_not_be_read_for_keep_what_they_told(
    make_rule, check_alerts, sandbox, alert_clock
):
    from accounts.venice import get_client

    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW)
    assert len(check_alerts().fired) == 1
    sandbox.faults.inject("/billing/balance", "GET", status=503)
    check_alerts()  # the outage is told; the balance rule is not re-armed by it
    sandbox.faults.clear()
    get_client().breaker.reset()
    report = check_alerts()
    assert not [e for e in report.fired if e.kind == AlertKind.BALANCE_BELOW]


def test_an_answer_that_does_not_parse_fails_that_read_only(make_rule, check_alerts, sandbox):
    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW)
    make_rule(AlertKind.KEY_UNUSED, days=30, name="unused")
    sandbox.faults.inject("/api_keys", "GET", malformed=True)
    report = check_alerts()
    kinds = Counter(event.kind for event in report.fired)
    assert kinds[AlertKind.BALANCE_BELOW] == 1  # the balance was still read
    assert kinds[AlertSystemKind.VENICE_UNAVAILABLE] == 1
    assert [rule.name for rule in report.skipped] == ["unused"]
