"""/billing/: usage analytics for a period, drawn as charts, with the numbers in tables."""

import html
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.charts import date_label, format_amount
from accounts.forms import (
    END_IN_FUTURE,
    END_REQUIRED,
    RANGE_TOO_LONG,
    START_AFTER_END,
)
from accounts.roles import ADMINISTRATOR

pytestmark = pytest.mark.django_db


def _analytics(sandbox_session, sandbox_url, query):
    response = sandbox_session.get(sandbox_url(f"/billing/usage-analytics?{query}"))
    assert response.status_code == 200
    return response.json(parse_float=Decimal)


def _section(page: str, heading_id: str) -> str:
    match = re.search(
        r'<section class="card section" aria-labelledby="' + heading_id + r'">(.*?)</section>',
        page,
        re.S,
    )
    assert match, heading_id
    return match.group(1)


def _wide_bars(section: str) -> set[str]:
    svg = re.search(r'<svg [^>]*class="chart chart--wide".*?</svg>', section, re.S).group(0)
    bars = re.search(r'<g class="chart__bars">(.*)</g>', svg, re.S).group(1)
    return {html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", bars)}


def _get(client, **query):
    response = client.get(reverse("billing:overview"), query)
    assert response.status_code == 200
    return response.content.decode()


def test_spend_per_day_chart_has_the_seeded_accounts_daily_series(
    finance_client, sandbox_session, sandbox_url
):
    analytics = _analytics(sandbox_session, sandbox_url, "lookback=30d")
    page = _get(finance_client, period="30d")
    section = _section(page, "chart-per-day")

    expected = set()
    for day in analytics["byDate"]:
        label = date_label(date.fromisoformat(day["date"]))
        for currency in ("USD", "DIEM"):
            if day[currency] > 0:
                expected.add(f"{label} · {currency}: {format_amount(day[currency])}")
    assert expected  # the seeded month has spend
    assert _wide_bars(section) == expected

    # The same numbers, every day of the period, in the table for screen readers.
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th>((?:<td class="num">[^<]*</td>)+)</tr>', section
    )
    assert len(rows) == 30
    today = timezone.now().date()
    assert rows[0][0] == date_label(today - timedelta(days=29))
    assert rows[-1][0] == date_label(today)
    by_label = {date_label(date.fromisoformat(d["date"])): d for d in analytics["byDate"]}
    for label, cells in rows:
        values = re.findall(r">([^<]*)</td>", cells)
        day = by_label[label]
        shown = [
            format_amount(day[c]) for c in ("USD", "DIEM") if any(d[c] for d in analytics["byDate"])
        ]
        assert values == shown


def test_model_and_key_charts_follow_the_analytics(finance_client, sandbox_session, sandbox_url):
    analytics = _analytics(sandbox_session, sandbox_url, "lookback=7d")
    page = _get(finance_client, period="7d")

    models = _section(page, "per-model")
    top = analytics["byModel"][:8]
    currencies = [c for c in ("Usd", "Diem") if any(m[f"total{c}"] for m in top)]
    assert _wide_bars(models) == {
        f"{m['modelName']} · {c.upper()}: {format_amount(m[f'total{c}'])}"
        for m in top
        for c in currencies
    }
    # Every model is in the table, not only the charted top 8.
    for model in analytics["byModel"]:
        assert f'<th scope="row">{html.escape(model["modelName"])}</th>' in models

    keys = _section(page, "per-key")
    for key in analytics["byKey"]:
        assert html.escape(key["description"]) in keys


def test_daily_model_chart_stacks_the_top_models(finance_client, sandbox_session, sandbox_url):
    analytics = _analytics(sandbox_session, sandbox_url, "lookback=7d")
    section = _section(_get(finance_client, period="7d"), "chart-models-daily")
    legend = re.search(r'<g class="chart__legend">(.*?)</g>', section, re.S).group(1)
    assert re.findall(r"<title>([^<]*)</title>", legend) == [
        html.escape(name) for name in analytics["topModels"]
    ]
    expected = set()
    for point in analytics["byModelDaily"]:
        day = datetime.fromtimestamp(int(point["date"]) / 1000, tz=UTC).date()
        for name in analytics["topModels"]:
            if point.get(name, 0) > 0:
                expected.add(f"{date_label(day)} · {name}: {format_amount(point[name])}")
    assert _wide_bars(section) == expected


def test_totals_are_the_sums_of_the_period(finance_client, sandbox_session, sandbox_url):
    analytics = _analytics(sandbox_session, sandbox_url, "lookback=90d")
    page = _get(finance_client, period="90d")
    usd = sum(day["USD"] for day in analytics["byDate"])
    diem = sum(day["DIEM"] for day in analytics["byDate"])
    assert f'<p class="stat">${format_amount(usd)}</p>' in page
    assert f'<p class="stat">{format_amount(diem)} <span class="stat__unit">DIEM</span></p>' in page
    assert 'aria-current="page">Last 90 days</a>' in page


def test_top_models_and_keys_lead_with_the_biggest_spenders(
    finance_client, sandbox_session, sandbox_url
):
    analytics = _analytics(sandbox_session, sandbox_url, "lookback=30d")
    page = _get(finance_client)  # 30 days by default
    assert 'aria-current="page">Last 30 days</a>' in page
    top_models = re.search(
        r"Top models</h2>\s*<ol class=\"top-list\">(.*?)</ol>", page, re.S
    ).group(1)
    names = re.findall(r"<li><span>([^<]+)</span>", top_models)
    assert names == [html.escape(m["modelName"]) for m in analytics["byModel"][:3]]
    top_keys = re.search(r"Top keys</h2>\s*<ol class=\"top-list\">(.*?)</ol>", page, re.S).group(1)
    assert re.findall(r"<li><span>([^<]+)</span>", top_keys) == [
        html.escape(k["description"]) for k in analytics["byKey"][:3]
    ]


def test_a_custom_range_asks_venice_for_those_dates(finance_client, sandbox):
    today = timezone.now().date()
    start, end = today - timedelta(days=20), today - timedelta(days=10)
    page = _get(finance_client, start=start.isoformat(), end=end.isoformat())
    sent = [r for r in sandbox.received if r.path == "/billing/usage-analytics"][-1]
    assert sent.query == {"startDate": [start.isoformat()], "endDate": [end.isoformat()]}
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>', _section(page, "chart-per-day"))
    assert rows[0] == date_label(start)
    assert rows[-1] == date_label(end)
    assert len(rows) == 11  # both ends included
    assert "aria-current" not in page.split('aria-label="Period"')[1].split("</nav>")[0]


@pytest.mark.parametrize(
    ("start_days_ago", "end_days_ago", "field", "message"),
    [
        (5, 10, "start", START_AFTER_END),
        (0, -1, "end", END_IN_FUTURE),
        (95, 0, "start", RANGE_TOO_LONG),
        (3, None, "end", END_REQUIRED),
    ],
)
def test_a_bad_custom_range_is_explained_on_its_field(
    finance_client, sandbox, start_days_ago, end_days_ago, field, message
):
    today = timezone.now().date()
    query = {"start": (today - timedelta(days=start_days_ago)).isoformat()}
    if end_days_ago is not None:
        query["end"] = (today - timedelta(days=end_days_ago)).isoformat()
    page = _get(finance_client, **query)
    field_html = re.search(
        r'<div class="field field--error">\s*<label for="id_' + field + r'">.*?</div>', page, re.S
    )
    assert field_html, f"{field} is not marked as wrong"
    assert html.escape(message) in field_html.group(0)
    # The dates typed stay in the form, and nothing was asked of Venice.
    assert f'value="{query["start"]}"' in page
    assert not [r for r in sandbox.received if r.path == "/billing/usage-analytics"]


def test_ninety_days_is_the_longest_custom_range_accepted(finance_client):
    today = timezone.now().date()
    page = _get(
        finance_client, start=(today - timedelta(days=89)).isoformat(), end=today.isoformat()
    )
    assert "field--error" not in page
    assert len(re.findall(r'<tr><th scope="row">', _section(page, "chart-per-day"))) == 90


def test_an_upstream_failure_is_shown_in_place_of_the_analytics(
    finance_client, sandbox, no_backoff
):
    sandbox.faults.inject("/billing/usage-analytics", status=503)
    page = _get(finance_client, period="7d")
    assert 'class="alert alert--error" role="alert"' in page
    assert "Try again in a minute" in page
    assert "Spend per day" not in page
    assert 'aria-current="page">Last 7 days</a>' in page  # the period picker is still there


def test_the_nav_shows_billing_to_roles_that_may_see_it(as_role):
    page = as_role(ADMINISTRATOR).get(reverse("dashboard")).content.decode()
    assert f'<a href="{reverse("billing:overview")}">Billing</a>' in page
    assert f'<a href="{reverse("limits:overview")}">Rate limits</a>' in page


def test_an_unknown_period_falls_back_to_thirty_days(finance_client):
    page = _get(finance_client, period="5d")
    assert 'aria-current="page">Last 30 days</a>' in page
    assert "field--error" not in page


def test_a_period_date_out_of_range_is_a_field_error_not_a_crash(client, finance_user):
    from accounts.forms import DATE_OUT_OF_RANGE

    client.force_login(finance_user)
    response = client.get(reverse("billing:overview") + "?start=0001-01-01&end=2026-01-01")
    assert DATE_OUT_OF_RANGE in html.unescape(response.content.decode())
