"""Each rule kind fires when its condition becomes true and not before, once while it stays
true over several check_alerts runs, again after it clears and returns; period thresholds
re-arm when the period starts. The sandbox drives every condition."""

import calendar
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import AlertEvent, AlertKind, AlertNotification, Rotation
from accounts.services.alerts import alert_rules_starter
from accounts.services.rotation import rotation_abort, rotation_start
from accounts.services.rotation_watch import rotation_observe
from accounts.venice import ConsumptionLimits, LimitPeriod
from tests.fixtures.alerts import context_of
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

pytestmark = pytest.mark.django_db


def _titles(report):
    return [event.title for event in report.fired]


def _key(client, key_id):
    return client.api_keys.get(key_id, fresh=True)


def _runs(check_alerts, times=3):
    """Several runs in a row (cron, five minutes apart): what each fired."""
    return [_titles(check_alerts()) for _ in range(times)]


# --- balances --------------------------------------------------------------------------------


def test_usd_balance_below_fires_once_when_it_drops_and_again_after_a_top_up(
    make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 80.0
    make_rule(AlertKind.BALANCE_BELOW, currency="USD", amount="50")
    assert _runs(check_alerts) == [[], [], []]  # true only below $50: not before

    sandbox.usd_balance = 42.10
    first, *later = _runs(check_alerts)
    assert first == ["The USD balance is $42.10, below $50.00"]
    assert later == [[], []]  # still true: told once

    sandbox.usd_balance = 120.0  # topped up: the condition clears, the rule re-arms
    assert _runs(check_alerts, 1) == [[]]
    sandbox.usd_balance = 10.0
    assert _runs(check_alerts, 2) == [["The USD balance is $10.00, below $50.00"], []]
    assert AlertEvent.objects.filter(kind=AlertKind.BALANCE_BELOW).count() == 2


def test_a_usd_balance_spent_below_the_threshold_through_a_key_fires(
    make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 55.0
    make_rule(AlertKind.BALANCE_BELOW, currency="USD", amount="50")
    assert not check_alerts().fired
    sandbox.use_key(seeded_key_id(INFERENCE_KEY), usd=6.0)
    assert _titles(check_alerts()) == ["The USD balance is $49.00, below $50.00"]


def test_diem_left_below_fires_once_per_epoch(make_rule, check_alerts, sandbox, alert_clock):
    # A fresh epoch: the whole allocation (10 DIEM) is left.
    alert_clock.set(alert_clock.now().replace(hour=0, minute=5, second=0) + timedelta(days=1))
    make_rule(AlertKind.BALANCE_BELOW, currency="DIEM", amount="2")
    assert not check_alerts().fired
    staging = seeded_key_id("Staging")
    sandbox.use_key(staging, diem=7.0)
    assert not check_alerts().fired  # 3 left
    sandbox.use_key(staging, diem=1.5)
    first, *later = _runs(check_alerts)
    assert first == ["The DIEM left this epoch is 1.5 DIEM, below 2 DIEM"]
    assert later == [[], []]
    alert_clock.advance(timedelta(days=1))  # the next epoch refills the allocation
    assert not check_alerts().fired
    sandbox.use_key(staging, diem=9.0)
    assert _titles(check_alerts()) == ["The DIEM left this epoch is 1 DIEM, below 2 DIEM"]


# --- spend -------------------------------------------------------------------------------------


def _spent_today(client, clock):
    today = clock.now().date()
    analytics = client.billing.get_usage_analytics(start=today, end=today)
    return analytics.total_usd


def test_account_spend_above_per_day_fires_once_and_re_arms_the_next_day(
    make_rule, check_alerts, sandbox, alert_clock, alert_venice
):
    alert_clock.set(alert_clock.now().replace(hour=1, minute=0, second=0) + timedelta(days=1))
    key = seeded_key_id(INFERENCE_KEY)
    make_rule(AlertKind.SPEND_ABOVE, period="day", usd="30", diem="")
    spent = _spent_today(alert_venice, alert_clock)
    assert spent < 30
    sandbox.use_key(key, usd=float(Decimal(29) - spent))
    assert not check_alerts().fired  # $29: not above $30
    sandbox.use_key(key, usd=2.0)
    first, *later = _runs(check_alerts)
    assert len(first) == 1 and first[0].startswith("The account spent $31")
    assert "above $30.00" in first[0] and "today (UTC)" in first[0]
    assert later == [[], []]

    alert_clock.advance(timedelta(days=1))  # a new day starts from zero: re-armed
    assert not check_alerts().fired
    sandbox.use_key(key, usd=40.0)
    assert len(check_alerts().fired) == 1


def test_one_keys_spend_per_month_and_per_day_read_its_own_usage(
    make_rule, check_alerts, sandbox, alert_venice, alert_clock
):
    created = alert_venice.api_keys.create("Spend watched")
    make_rule(
        AlertKind.SPEND_ABOVE,
        period="month",
        usd="5",
        diem="0.5",
        key_id=created.id,
        key_label="Spend watched",
        name="month",
    )
    make_rule(
        AlertKind.SPEND_ABOVE,
        period="day",
        usd="2",
        diem="",
        key_id=created.id,
        key_label="Spend watched",
        name="day",
    )
    sandbox.use_key(seeded_key_id(INFERENCE_KEY), usd=50.0)  # another key's spend
    assert not check_alerts().fired
    sandbox.use_key(created.id, usd=3.0)
    fired = check_alerts().fired
    assert [(event.rule_name, event.facts["currency"]) for event in fired] == [("day", "USD")]
    sandbox.use_key(created.id, usd=2.5, diem=0.75)
    fired = check_alerts().fired
    assert sorted((event.rule_name, event.facts["currency"]) for event in fired) == [
        ("month", "DIEM"),
        ("month", "USD"),
    ]
    assert fired[0].title.startswith("Key “Spend watched” spent")
    assert not check_alerts().fired


def test_month_spend_re_arms_on_the_first_of_the_next_month(
    make_rule, check_alerts, sandbox, alert_clock
):
    now = alert_clock.now()
    first_of_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=2)
    alert_clock.set(first_of_next - timedelta(days=1))  # the last day of a month
    make_rule(AlertKind.SPEND_ABOVE, period="month", usd="100000", diem="")
    key = seeded_key_id(INFERENCE_KEY)
    sandbox.use_key(key, usd=100_001.0)
    assert len(check_alerts().fired) == 1
    assert not check_alerts().fired
    alert_clock.set(first_of_next)
    assert not check_alerts().fired  # a new month: nothing spent yet
    sandbox.use_key(key, usd=100_001.0)
    assert len(check_alerts().fired) == 1


# --- key limits --------------------------------------------------------------------------------


def _spend_to(sandbox, client, key_id, share):
    """Spend on the key until its USD period usage is `share` of its limit."""
    key = _key(client, key_id)
    target = key.consumption_limits.usd * Decimal(str(share))
    missing = target - key.current_period_usage.usd
    assert missing > 0
    sandbox.use_key(key_id, usd=float(missing))


def test_key_limit_thresholds_fire_each_once_as_usage_crosses_them(
    make_rule, check_alerts, sandbox, alert_venice
):
    key = alert_venice.api_keys.create(
        "Metered worker",
        consumption_limits=ConsumptionLimits(usd=Decimal("100")),
        limit_period=LimitPeriod.LIFETIME,
    )
    make_rule(AlertKind.KEY_LIMIT, thresholds=[80, 90, 100])
    _spend_to(sandbox, alert_venice, key.id, "0.79")
    assert not check_alerts().fired  # 79 %: not before

    _spend_to(sandbox, alert_venice, key.id, "0.81")
    first, *later = _runs(check_alerts)
    assert first == ["Key “Metered worker” (…" + key.last6 + ") is at 81 % of its USD limit "
                     "($81.00 of $100.00)"]  # fmt: skip
    assert later == [[], []]

    _spend_to(sandbox, alert_venice, key.id, "0.95")  # past 90 % at once: told once, as 90 %
    fired = check_alerts().fired
    assert [(event.facts["threshold"], event.severity) for event in fired] == [(90, "warning")]
    _spend_to(sandbox, alert_venice, key.id, "1.2")
    fired = check_alerts().fired
    assert [(event.facts["threshold"], event.severity) for event in fired] == [(100, "critical")]
    assert not check_alerts().fired

    # The limit raised: usage falls to 60 % of it; the thresholds re-arm and fire again.
    alert_venice.api_keys.update(key.id, consumption_limits=ConsumptionLimits(usd=Decimal("200")))
    assert not check_alerts().fired
    _spend_to(sandbox, alert_venice, key.id, "0.85")
    assert [event.facts["threshold"] for event in check_alerts().fired] == [80]


def test_key_limit_thresholds_re_arm_when_the_keys_period_starts(
    make_rule, check_alerts, sandbox, alert_venice, alert_clock
):
    alert_clock.set(alert_clock.now().replace(hour=3, minute=0, second=0))
    key = alert_venice.api_keys.create(
        "Daily worker",
        consumption_limits=ConsumptionLimits(usd=Decimal("10")),
        limit_period=LimitPeriod.EPOCH,
    )
    make_rule(AlertKind.KEY_LIMIT, thresholds=[80], scope="key", key_id=key.id)
    sandbox.use_key(key.id, usd=8.5)
    assert len(check_alerts().fired) == 1
    assert not check_alerts().fired
    alert_clock.advance(timedelta(days=1))  # a new epoch: usage starts again from zero
    assert not check_alerts().fired
    sandbox.use_key(key.id, usd=9.0)
    assert [event.facts["percent"] for event in check_alerts().fired] == [90]


def test_key_limit_rules_keep_to_their_scope(make_rule, check_alerts, sandbox, alert_venice):
    watched = alert_venice.api_keys.create(
        "Watched", consumption_limits=ConsumptionLimits(usd=Decimal("10"))
    )
    other = alert_venice.api_keys.create(
        "Other", consumption_limits=ConsumptionLimits(usd=Decimal("10"))
    )
    make_rule(AlertKind.KEY_LIMIT, thresholds=[50], scope="key", key_id=watched.id)
    make_rule(AlertKind.KEY_LIMIT, thresholds=[50], scope="type", key_type="ADMIN", name="admin")
    sandbox.use_key(other.id, usd=9.0)
    assert not check_alerts().fired
    sandbox.use_key(watched.id, usd=6.0)
    assert [event.facts["key_id"] for event in check_alerts().fired] == [watched.id]


# --- expiry and idleness -----------------------------------------------------------------------


def test_a_key_expiring_is_told_when_it_comes_within_the_days_and_again_when_it_expired(
    make_rule, check_alerts, alert_venice, alert_clock
):
    expires = alert_clock.now() + timedelta(days=10)
    key = alert_venice.api_keys.create("Short-lived", expires_at=expires)
    make_rule(AlertKind.KEY_EXPIRING, days=7, scope="key", key_id=key.id)
    assert not check_alerts().fired  # ten days left

    alert_clock.advance(timedelta(days=4))
    first, *later = _runs(check_alerts)
    assert first == [
        f"Key “Short-lived” (…{key.last6}) expires in 6 days ({expires:%Y-%m-%d %H:%M} UTC)"
    ]
    assert later == [[], []]

    alert_clock.set(expires + timedelta(minutes=1))  # Venice stops listing it
    assert _key(alert_venice, key.id) is not None  # (still there by id)
    assert key.id not in [listed.id for listed in alert_venice.api_keys.list()]
    first, *later = _runs(check_alerts)
    assert first == [f"Key “Short-lived” (…{key.last6}) expired on {expires:%Y-%m-%d %H:%M} UTC"]
    assert later == [[], []]
    assert AlertEvent.objects.get(title__contains="expired on").severity == "critical"


def test_an_expiry_moved_later_clears_and_a_new_one_is_told_again(
    make_rule, check_alerts, alert_venice, alert_clock
):
    key = alert_venice.api_keys.create("Renewed", expires_at=alert_clock.now() + timedelta(days=2))
    make_rule(AlertKind.KEY_EXPIRING, days=7, scope="key", key_id=key.id)
    assert [event.facts["key_id"] for event in check_alerts().fired] == [key.id]
    alert_venice.api_keys.update(key.id, expires_at=alert_clock.now() + timedelta(days=60))
    assert not check_alerts().fired
    alert_clock.advance(timedelta(days=55))
    assert [event.facts["key_id"] for event in check_alerts().fired] == [key.id]


def test_a_deleted_key_is_not_told_as_expired(
    make_rule, check_alerts, alert_venice, alert_clock, ada
):
    from accounts.services.keys import api_key_delete
    from tests.fixtures.alerts import context_of

    doomed = alert_venice.api_keys.create(
        "Doomed", expires_at=alert_clock.now() + timedelta(days=2)
    )
    gone = alert_venice.api_keys.create("Gone", expires_at=alert_clock.now() + timedelta(days=2))
    make_rule(AlertKind.KEY_EXPIRING, days=7, scope="type", key_type="INFERENCE")
    assert {doomed.id, gone.id} <= {event.facts["key_id"] for event in check_alerts().fired}
    # Deleted outside the portal: the next run (five minutes later) sees it gone, unexpired.
    alert_venice.api_keys.delete(gone.id)
    assert not check_alerts().fired
    # Deleted through the portal: its audit record says so, whenever the next run comes.
    api_key_delete(context=context_of(ada), key=doomed)
    alert_clock.advance(timedelta(days=3))
    assert not [e for e in check_alerts().fired if e.facts["key_id"] in (doomed.id, gone.id)]


def test_a_key_unused_for_the_days_is_told_counting_a_new_key_from_its_creation(
    make_rule, check_alerts, sandbox, alert_venice, alert_clock
):
    key = alert_venice.api_keys.create("Idle")
    make_rule(AlertKind.KEY_UNUSED, days=30, scope="key", key_id=key.id)
    assert not check_alerts().fired  # new, not unused
    alert_clock.advance(timedelta(days=29))
    assert not check_alerts().fired
    alert_clock.advance(timedelta(days=2))
    first, *later = _runs(check_alerts)
    assert first == [f"Key “Idle” (…{key.last6}) was never used (created 31 days ago)"]
    assert later == [[], []]
    sandbox.use_key(key.id, usd=0.01)  # used: clears
    assert not check_alerts().fired
    alert_clock.advance(timedelta(days=30))
    assert _titles(check_alerts()) == [f"Key “Idle” (…{key.last6}) has not been used for 30 days"]


# --- rotations ---------------------------------------------------------------------------------


def test_a_grace_ending_while_the_old_key_is_in_use_is_told_once(
    make_rule, check_alerts, sandbox, alert_venice, alert_clock, manager_context
):
    old = alert_venice.api_keys.create("Rotated service")
    rotation = rotation_start(context=manager_context, key_id=old.id, grace="24h").rotation
    make_rule(AlertKind.ROTATION_GRACE, hours=2, minutes=60)
    sandbox.use_key(old.id, usd=0.01)
    assert not check_alerts().fired  # the grace ends in 24 hours, not within 2

    alert_clock.set(rotation.retire_at - timedelta(minutes=90))
    assert not check_alerts().fired  # within 2 hours, but the old key is not used lately
    sandbox.use_key(old.id, usd=0.01)
    first, *later = _runs(check_alerts)
    assert len(first) == 1 and first[0].startswith("The old key “Rotated service”")
    assert "grace period ends in 2 hours" in first[0]
    assert later == [[], []]


def test_when_the_key_page_offers_to_extend_grace_the_starter_rules_tell_the_admin_too(
    ada, check_alerts, sandbox, alert_venice, alert_clock, manager_context
):
    """Issue 16's case: the grace ends within the hour and the old key was used in the last
    15 minutes. The page offers "Extend grace"; the starter rules send it as a notification."""
    old = alert_venice.api_keys.create("Weekly batch")
    rotation = rotation_start(context=manager_context, key_id=old.id, grace="24h").rotation
    alert_rules_starter(context=context_of(ada), notify=[ada])
    check_alerts()  # what the demo account already has to say is said

    alert_clock.set(rotation.retire_at - timedelta(minutes=50))
    sandbox.use_key(old.id, usd=0.01)
    traffic = rotation_observe(rotation, client=alert_venice, now=alert_clock.now(), fresh=True)
    assert traffic.offer_extension
    fired = check_alerts().fired
    told = [event for event in fired if event.facts.get("rotation_id") == rotation.pk]
    assert len(told) == 1
    assert told[0].title.startswith("The old key “Weekly batch”")
    assert "extend the grace period on the key's page" in told[0].body
    assert AlertNotification.objects.filter(user=ada, event=told[0]).exists()


def test_a_failed_rotation_is_told_and_told_again_after_it_was_dealt_with_and_fails_anew(
    make_rule, check_alerts, sandbox, alert_venice, manager_context
):
    old = alert_venice.api_keys.create("Fragile")
    make_rule(AlertKind.ROTATION_FAILED, minutes=30)
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    outcome = rotation_start(context=manager_context, key_id=old.id, grace="now")
    assert outcome.rotation.state == Rotation.State.FAILED
    first, *later = _runs(check_alerts)
    assert first == ["Rotation of key “Fragile” (…" + old.last6 + ") failed while creating "
                     "the replacement key"]  # fmt: skip
    assert later == [[], []]
    rotation_abort(
        context=manager_context, rotation_id=outcome.rotation.pk, delete_replacement=True
    )
    assert not check_alerts().fired
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    rotation_start(context=manager_context, key_id=old.id, grace="now")
    assert len(check_alerts().fired) == 1


def test_a_rotation_left_unfinished_is_told_after_the_minutes(
    make_rule, check_alerts, alert_venice, alert_clock, manager_context
):
    old = alert_venice.api_keys.create("Stalled")
    rotation = rotation_start(context=manager_context, key_id=old.id, grace="1h").rotation
    make_rule(AlertKind.ROTATION_FAILED, minutes=30)
    # The grace ended but nobody deleted the old key (finish_rotations is not running).
    Rotation.objects.filter(pk=rotation.pk).update(
        retire_at=alert_clock.now() - timedelta(minutes=10)
    )
    assert not check_alerts().fired
    Rotation.objects.filter(pk=rotation.pk).update(
        retire_at=alert_clock.now() - timedelta(minutes=31)
    )
    assert "is finish_rotations running?" in _titles(check_alerts())[0]


# --- rate limits and audit ---------------------------------------------------------------------


def test_rate_limit_violations_above_the_count_in_24_hours_are_told_once(
    make_rule, check_alerts, sandbox, alert_clock
):
    alert_clock.advance(timedelta(days=2))  # the seeded violations are older than a day
    make_rule(AlertKind.RATE_LIMITS, count=3)
    key = seeded_key_id(INFERENCE_KEY)
    for _ in range(3):
        sandbox.record_rate_limit_violation(key)
    assert not check_alerts().fired  # 3: not more than 3
    sandbox.record_rate_limit_violation(key, kind="TPM")
    first, *later = _runs(check_alerts)
    assert first == ["4 rate-limit violations in the last 24 hours (more than 3)"]
    assert later == [[], []]
    alert_clock.advance(timedelta(hours=25))  # they age out: clear
    assert not check_alerts().fired
    for _ in range(4):
        sandbox.record_rate_limit_violation(key)
    assert len(check_alerts().fired) == 1


def test_a_broken_audit_chain_is_told(
    make_rule, check_alerts, alert_clock, raw_sql, without_audit_trigger
):
    from accounts.models import AuditEvent
    from tests.factories import AuditEventFactory

    records = [AuditEventFactory() for _ in range(3)]
    make_rule(AlertKind.AUDIT_INTEGRITY, chain=True, drift=False)  # its own record: a 4th
    assert not check_alerts().fired
    raw_sql(
        "UPDATE accounts_auditevent SET key_description = 'forged' WHERE id = %s",
        [records[1].pk],
    )
    sealed = AuditEvent.objects.filter(sequence__isnull=False).count()
    alert_clock.advance(timedelta(minutes=30))
    assert not check_alerts().fired  # the chain is verified hourly, not every run
    alert_clock.advance(timedelta(minutes=31))
    first, *later = _runs(check_alerts)
    assert first == [
        f"The audit log's hash chain is broken in 1 place(s) ({sealed} records checked)"
    ]
    assert later == [[], []]


def test_new_drift_is_told_and_the_drift_there_was_is_the_baseline(
    make_rule, check_alerts, sandbox_session, sandbox_url
):
    # The seeded keys were all made outside the portal: the baseline, not news.
    make_rule(AlertKind.AUDIT_INTEGRITY, chain=False, drift=True)
    assert not check_alerts().fired
    made = sandbox_session.post(
        sandbox_url("/api_keys"), json={"apiKeyType": "INFERENCE", "description": "Side door"}
    )
    assert made.status_code == 200
    first, *later = _runs(check_alerts)
    assert first == [
        "1 key(s) changed outside the portal: 1 with no recorded creation, 0 gone without a "
        "recorded deletion"
    ]
    assert later == [[], []]
    sandbox_session.delete(sandbox_url("/api_keys"), params={"id": made.json()["data"]["id"]})
    sandbox_session.post(
        sandbox_url("/api_keys"), json={"apiKeyType": "INFERENCE", "description": "Another"}
    )
    assert len(check_alerts().fired) == 1


def test_every_kind_is_covered_here():
    tested = {
        AlertKind.BALANCE_BELOW,
        AlertKind.SPEND_ABOVE,
        AlertKind.KEY_LIMIT,
        AlertKind.KEY_EXPIRING,
        AlertKind.KEY_UNUSED,
        AlertKind.ROTATION_GRACE,
        AlertKind.ROTATION_FAILED,
        AlertKind.RATE_LIMITS,
        AlertKind.AUDIT_INTEGRITY,
        AlertKind.TEAM_BUDGET,
    }
    assert tested == set(AlertKind)


def test_a_rule_switched_off_and_on_tells_what_is_true_again(make_rule, check_alerts, sandbox, ada):
    from accounts.services.alerts import alert_rule_set_enabled
    from tests.fixtures.alerts import context_of

    sandbox.usd_balance = 10.0
    rule = make_rule(AlertKind.BALANCE_BELOW, currency="USD", amount="50")
    assert len(check_alerts().fired) == 1
    alert_rule_set_enabled(context=context_of(ada), rule=rule, enabled=False)
    assert not check_alerts().fired
    alert_rule_set_enabled(context=context_of(ada), rule=rule, enabled=True)
    assert len(check_alerts().fired) == 1


# --- team budgets ----------------------------------------------------------------------------


def _tenth_of_next_month_at_noon(clock):
    now = clock.now()
    first_next = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_next.replace(day=10, hour=12, minute=0, second=0)


def test_a_team_budget_is_told_at_each_threshold_once_per_month_and_per_currency(
    make_rule, check_alerts, sandbox, alert_clock, alert_venice, make_team, assign
):
    alert_clock.set(_tenth_of_next_month_at_noon(alert_clock))
    data = make_team("Data", budget_usd="10", budget_diem="2")
    make_team("Web")  # no budget: nothing to tell about it
    pipeline = alert_venice.api_keys.create("Data pipeline")
    assign(pipeline, data)
    make_rule(AlertKind.TEAM_BUDGET, thresholds=[80, 100])

    sandbox.use_key(seeded_key_id(INFERENCE_KEY), usd=50.0)  # a key no team owns
    sandbox.use_key(pipeline.id, usd=7.5)  # 75 %
    assert not check_alerts().fired

    sandbox.use_key(pipeline.id, usd=1.0)  # 85 %
    first, *later = _runs(check_alerts)
    month = alert_clock.now().strftime("%B %Y")
    assert first == [f"Team “Data” has spent 85 % of its USD budget in {month} ($8.50 of $10.00)"]
    assert later == [[], []]
    event = AlertEvent.objects.get(kind=AlertKind.TEAM_BUDGET)
    assert event.severity == "warning"
    # $8.50 in nine and a half days: the month's pace, to its last day.
    now = alert_clock.now()
    days = calendar.monthrange(now.year, now.month)[1]
    pace = Decimal("8.5") * days / Decimal("9.5")
    assert f"At this month's pace it reaches ${pace:,.2f} by {now:%B} {days}." in event.body
    assert event.link == "/teams/data/"

    sandbox.use_key(pipeline.id, usd=2.0, diem=2.5)  # 105 % of USD, 125 % of DIEM
    fired = check_alerts().fired
    assert sorted((e.facts["currency"], e.facts["threshold"], e.severity) for e in fired) == [
        ("DIEM", 100, "critical"),  # straight to 100: one message, not one per threshold
        ("USD", 100, "critical"),
    ]
    assert not check_alerts().fired

    # A new month starts from zero: re-armed, and told again when it is reached again.
    alert_clock.advance(timedelta(days=31))
    assert not check_alerts().fired
    sandbox.use_key(pipeline.id, usd=9.0)
    assert [e.facts["threshold"] for e in check_alerts().fired] == [80]


def test_a_team_budget_rule_for_one_team_reads_only_that_team(
    make_rule, check_alerts, sandbox, alert_clock, alert_venice, make_team, assign
):
    alert_clock.set(_tenth_of_next_month_at_noon(alert_clock))
    data = make_team("Data", budget_usd="10")
    web = make_team("Web", budget_usd="10")
    for name, team in (("Data job", data), ("Web app", web)):
        key = alert_venice.api_keys.create(name)
        assign(key, team)
        sandbox.use_key(key.id, usd=11.0)
    make_rule(AlertKind.TEAM_BUDGET, thresholds=[100], team_id=web.pk, team_label="Web")
    assert [e.facts["team"] for e in check_alerts().fired] == ["Web"]
