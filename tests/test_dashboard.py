"""The dashboard page: each role sees its panels, and an upstream failure blanks only its panel."""

import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import RotationState
from accounts.presentation import dates
from accounts.presentation.numbers import diem, usd
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from accounts.services.dashboard import RUNWAY_USAGE_FAILED
from accounts.services.rotation import rotation_start
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

PANELS = {
    "balance": 'id="panel-balance"',
    "diem": 'id="panel-diem"',
    "runway": 'id="panel-runway"',
    "spend": 'id="panel-spend"',
    "keys": 'id="panel-keys"',
    "limits": 'id="panel-limits"',
    "attention": 'id="panel-attention"',
    "audit": 'id="panel-audit"',
}
SEEN_BY = {
    ADMINISTRATOR: set(PANELS),
    KEY_MANAGER: {"keys", "limits", "attention"},
    FINANCE: {"balance", "diem", "runway", "spend", "keys", "limits", "attention"},
    AUDITOR: {"keys", "attention", "audit"},
}
UNAVAILABLE = "Try again in a minute"  # the tail of an UpstreamUnavailableError's message


def _panel(html: str, name: str) -> str:
    """The HTML of one panel (its <article>)."""
    match = re.search(
        r'<article class="card panel" aria-labelledby="panel-' + name + r'">(.*?)</article>',
        html,
        re.S,
    )
    assert match, f"no {name} panel"
    return match.group(1)


def _dashboard(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("role", [ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR])
def test_each_role_sees_only_its_panels(as_role, role):
    html = _dashboard(as_role(role))
    shown = {name for name, marker in PANELS.items() if marker in html}
    assert shown == SEEN_BY[role]


def test_balances_come_from_the_account(as_role, sandbox_session, sandbox_url):
    balance = sandbox_session.get(sandbox_url("/billing/balance")).json()
    html = _dashboard(as_role(FINANCE))
    panel = _panel(html, "balance")
    # One format per currency: "$133.35", "6.49 DIEM".
    assert f'<p class="stat">{usd(balance["balances"]["usd"])}</p>' in panel
    assert diem(balance["balances"]["diem"]) in panel
    diem_panel = _panel(html, "diem")
    assert f"of {diem(balance['diemEpochAllocation'])} left" in diem_panel
    used = balance["diemEpochAllocation"] - balance["balances"]["diem"]
    percent = round(used / balance["diemEpochAllocation"] * 100)
    assert f'aria-valuenow="{percent}"' in diem_panel
    assert f'<rect class="meter__bar meter__bar--ok" width="{percent}"' in diem_panel


def test_key_counts_by_type_match_the_key_list(as_role, sandbox_session, sandbox_url):
    keys = sandbox_session.get(sandbox_url("/api_keys")).json()["data"]
    counts = Counter(key["apiKeyType"] for key in keys)
    panel = _panel(_dashboard(as_role(AUDITOR)), "keys")
    assert f'<p class="stat">{len(keys)} ' in panel
    assert f"<dt>Inference</dt><dd>{counts['INFERENCE']}</dd>" in panel
    assert f"<dt>Admin</dt><dd>{counts['ADMIN']}</dd>" in panel


def test_keys_needing_attention_lists_the_seeded_problem_keys(as_role):
    panel = _panel(_dashboard(as_role(KEY_MANAGER)), "attention")
    assert re.search(r"Temporary demo key.*?Expires (in \d+ hours?|within the hour)", panel, re.S)
    assert re.search(r"Old prototype.*?Unused for 7\d days", panel, re.S)
    assert re.search(r"Hackathon 2025.*?Never used \(created 140 days ago\)", panel, re.S)
    assert re.search(r"Mobile app.*?No spending limit", panel, re.S)
    # A key in daily use, with limits and no expiry, needs nothing.
    assert "Production backend" not in panel
    # Most urgent first: the key expiring within hours leads the list.
    assert panel.index("Temporary demo key") < panel.index("Old prototype")


def test_a_failed_rotation_flags_its_key_as_urgent(
    as_role, sandbox, manager_context, inference_key
):
    sandbox.faults.inject("/api_keys", method="POST", status=500, times=3)
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    assert outcome.rotation.state == RotationState.FAILED

    panel = _panel(_dashboard(as_role(KEY_MANAGER)), "attention")

    assert re.search(
        r'Billing worker.*?<span class="badge badge--danger">Rotation failed: resume or abort it',
        panel,
        re.S,
    )
    # Urgent keys come before the merely idle or unlimited ones.
    assert panel.index("Billing worker") < panel.index("Old prototype")


def test_a_key_in_its_rotation_grace_period_says_when_it_retires(
    as_role, manager_context, inference_key
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    retire_at = outcome.rotation.retire_at

    panel = _panel(_dashboard(as_role(KEY_MANAGER)), "attention")

    assert f"Rotated; old key retires {dates.prose(retire_at)}" in panel


def test_days_left_projects_the_usd_balance_at_the_weeks_burn_rate(
    as_role, sandbox, sandbox_session, sandbox_url
):
    sandbox.use_key(sandbox.inference_key, usd=14.0)
    balance = sandbox_session.get(sandbox_url("/billing/balance")).json()["balances"]["usd"]
    week = sandbox_session.get(sandbox_url("/billing/usage-analytics?lookback=7d")).json()
    burn = sum(day["USD"] for day in week["byDate"]) / 7
    assert burn >= 2  # at least the $14 just spent
    panel = _panel(_dashboard(as_role(FINANCE)), "runway")
    days = balance / burn
    assert f'<p class="stat">{round(days) if days >= 10 else round(days, 1)} <span' in panel
    assert f"At {usd(burn)} a day" in panel


@pytest.mark.sandbox_at(datetime(2026, 11, 16, 0, 0, tzinfo=UTC))
def test_this_months_spend_and_its_projection_are_on_the_dashboard(
    as_role, sandbox, sandbox_session, sandbox_url
):
    month = sandbox_session.get(
        sandbox_url("/billing/usage-analytics?startDate=2026-11-01&endDate=2026-11-16")
    ).json(parse_float=Decimal)
    spent_usd = sum(day["USD"] for day in month["byDate"])
    spent_diem = sum(day["DIEM"] for day in month["byDate"])
    panel = _panel(_dashboard(as_role(FINANCE)), "spend")
    assert f'<p class="stat">{usd(spent_usd)}</p>' in panel
    assert f'<p class="stat stat--second">{diem(spent_diem)}</p>' in panel
    # Half of November gone: heading for twice as much by its end.
    assert f"Heading for {usd(spent_usd * 2)} and {diem(spent_diem * 2)} by Nov 30, 2026" in panel
    assert 'href="/billing/?period=last-month"' in panel


def test_rate_limit_status_shows_tier_and_recent_violations(as_role, sandbox):
    sandbox.record_rate_limit_violation(sandbox.inference_key, kind="TPM", model="kimi-k2-6")
    panel = _panel(_dashboard(as_role(KEY_MANAGER)), "limits")
    assert "Warning" in panel
    assert "<dt>Tier</dt><dd>paid</dd>" in panel
    assert "Tokens per minute on Kimi K2.6" in panel  # names, not codes
    assert reverse("limits:overview") in panel


def test_latest_audit_records_show_newest_first_to_auditors(as_role):
    AuditEventFactory(key_description="Older change")
    AuditEventFactory(key_description="Newest change", action="key.deleted")
    panel = _panel(_dashboard(as_role(AUDITOR)), "audit")
    assert panel.index("Newest change") < panel.index("Older change")
    assert "ada deleted “Newest change” …" in panel  # each record as a sentence


def test_audit_records_stay_hidden_from_finance(as_role):
    AuditEventFactory(key_description="Secret project key")
    html = _dashboard(as_role(FINANCE))
    assert "Secret project key" not in html


# --- upstream failures --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_retries(no_backoff):
    """Injected 503s are retried by the client; skip its waits."""


def test_a_failed_balance_blanks_only_the_balance_panels(as_role, sandbox):
    sandbox.faults.inject("/billing/balance", status=503)
    html = _dashboard(as_role(ADMINISTRATOR))
    for name in ("balance", "diem", "runway"):
        panel = _panel(html, name)
        assert "panel__error" in panel
        assert UNAVAILABLE in panel
    for name in ("keys", "limits", "attention", "audit"):
        assert UNAVAILABLE not in _panel(html, name)
    assert "<dt>Inference</dt>" in _panel(html, "keys")
    assert "<dt>Tier</dt>" in _panel(html, "limits")


def test_a_failed_key_list_blanks_only_the_key_panels(as_role, sandbox):
    sandbox.faults.inject("/api_keys", status=503)
    html = _dashboard(as_role(FINANCE))
    assert UNAVAILABLE in _panel(html, "keys")
    assert UNAVAILABLE in _panel(html, "attention")
    assert UNAVAILABLE not in _panel(html, "balance")
    assert "Can consume" in _panel(html, "balance")


def test_a_failed_rate_limit_log_blanks_only_the_limits_panel(as_role, sandbox):
    sandbox.faults.inject("/api_keys/rate_limits/log", status=503)
    html = _dashboard(as_role(ADMINISTRATOR))
    assert UNAVAILABLE in _panel(html, "limits")
    assert "Can consume" in _panel(html, "balance")
    assert "<dt>Inference</dt>" in _panel(html, "keys")


def test_failed_analytics_leave_balances_and_explain_the_missing_projection(as_role, sandbox):
    sandbox.faults.inject("/billing/usage-analytics", status=503)
    html = _dashboard(as_role(FINANCE))
    runway = _panel(html, "runway")
    assert RUNWAY_USAGE_FAILED in runway
    assert "—" in runway
    assert UNAVAILABLE not in _panel(html, "balance")


def test_with_venice_down_the_page_still_renders_every_panel_with_a_message(as_role, sandbox):
    sandbox.faults.inject("*", "*", status=503)
    html = _dashboard(as_role(ADMINISTRATOR))
    for name in ("balance", "diem", "keys", "limits", "attention"):
        assert UNAVAILABLE in _panel(html, name), name
    assert "No audit records yet." in _panel(html, "audit")  # local, so unaffected
