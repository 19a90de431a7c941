"""/billing/: a period's usage analytics as totals, rankings and charts, one currency at a time.

Chart assertions read the data structures accounts/charts.py builds (the page's context), not
pixels: which series a chart holds, in which unit, with which values.
"""

import html
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.charts import date_label
from accounts.forms import END_IN_FUTURE, END_REQUIRED, RANGE_TOO_LONG, START_AFTER_END
from accounts.presentation.numbers import diem, units, usd
from accounts.roles import ADMINISTRATOR
from accounts.services.billing import BREAKDOWN_TOO_LONG, OTHER
from accounts.services.billing_periods import TOO_EARLY_TO_PROJECT

pytestmark = pytest.mark.django_db

ANALYTICS = "/billing/usage-analytics"
D = Decimal


def _analytics(sandbox_session, sandbox_url, start: date, end: date) -> dict:
    query = f"startDate={start.isoformat()}&endDate={end.isoformat()}"
    response = sandbox_session.get(sandbox_url(f"{ANALYTICS}?{query}"))
    assert response.status_code == 200
    return response.json(parse_float=Decimal)


def _get(client, **query):
    response = client.get(reverse("billing:overview"), query)
    assert response.status_code == 200
    return response


def _sent(sandbox) -> list[dict]:
    return [r.query for r in sandbox.received if r.path == ANALYTICS]


def _today(sandbox) -> date:
    return sandbox.clock.now().date()


# --- periods ---------------------------------------------------------------------------------


def test_this_month_is_the_default_and_asks_venice_for_the_month_so_far(finance_client, sandbox):
    today = _today(sandbox)
    response = _get(finance_client)
    assert _sent(sandbox)[-1] == {
        "startDate": [today.replace(day=1).isoformat()],
        "endDate": [today.isoformat()],
    }
    assert 'aria-current="page">This month</a>' in response.content.decode()


@pytest.mark.parametrize(
    ("now", "preset", "start", "end"),
    [
        # New Year's Day: yesterday and last month are last year's.
        (datetime(2027, 1, 1, 9, 30, tzinfo=UTC), "yesterday", date(2026, 12, 31), None),
        (
            datetime(2027, 1, 1, 9, 30, tzinfo=UTC),
            "last-month",
            date(2026, 12, 1),
            date(2026, 12, 31),
        ),
        (datetime(2027, 1, 1, 9, 30, tzinfo=UTC), "this-month", date(2027, 1, 1), date(2027, 1, 1)),
        (
            datetime(2027, 1, 1, 9, 30, tzinfo=UTC),
            "last-7-days",
            date(2026, 12, 25),
            date(2026, 12, 31),
        ),
        # March 1st: February has 28 days, or 29 in a leap year.
        (datetime(2027, 3, 1, 0, 5, tzinfo=UTC), "yesterday", date(2027, 2, 28), None),
        (datetime(2027, 3, 1, 0, 5, tzinfo=UTC), "last-month", date(2027, 2, 1), date(2027, 2, 28)),
        (datetime(2028, 3, 1, 0, 5, tzinfo=UTC), "last-month", date(2028, 2, 1), date(2028, 2, 29)),
        (datetime(2028, 3, 1, 0, 5, tzinfo=UTC), "yesterday", date(2028, 2, 29), None),
        (datetime(2027, 3, 1, 23, 59, tzinfo=UTC), "today", date(2027, 3, 1), None),
    ],
)
def test_presets_pick_whole_utc_days_across_month_and_year_ends(
    finance_client, sandbox, now, preset, start, end
):
    end = end or start
    sandbox.clock.set(now)
    response = _get(finance_client, period=preset)
    assert _sent(sandbox)[-1] == {"startDate": [start.isoformat()], "endDate": [end.isoformat()]}
    period = response.context["period"]
    assert (period.start, period.end) == (start, end)
    # Every day of the period is in the per-day charts, and only those.
    labels = response.context["overview"].spend_usd_chart.labels
    assert labels[0] == date_label(start) and labels[-1] == date_label(end)
    assert len(labels) == (end - start).days + 1


def test_a_custom_range_asks_venice_for_those_dates(finance_client, sandbox):
    today = _today(sandbox)
    start, end = today - timedelta(days=20), today - timedelta(days=10)
    response = _get(finance_client, start=start.isoformat(), end=end.isoformat())
    assert _sent(sandbox)[-1] == {"startDate": [start.isoformat()], "endDate": [end.isoformat()]}
    assert len(response.context["overview"].spend_usd_chart.labels) == 11  # both ends included
    page = response.content.decode()
    assert "aria-current" not in page.split('aria-label="Period"')[1].split("</nav>")[0]


def test_a_year_is_the_longest_range_accepted(finance_client, sandbox):
    today = _today(sandbox)
    response = _get(finance_client, start=(today - timedelta(days=365)).isoformat(), end=today)
    assert not response.context["form"].errors
    assert len(response.context["overview"].spend_usd_chart.labels) == 366


@pytest.mark.parametrize(
    ("start_days_ago", "end_days_ago", "field", "message"),
    [
        (5, 10, "start", START_AFTER_END),
        (0, -1, "end", END_IN_FUTURE),
        (366, 0, "start", RANGE_TOO_LONG),
        (3, None, "end", END_REQUIRED),
    ],
)
def test_a_bad_custom_range_is_explained_on_its_field(
    finance_client, sandbox, start_days_ago, end_days_ago, field, message
):
    today = _today(sandbox)
    query = {"start": (today - timedelta(days=start_days_ago)).isoformat()}
    if end_days_ago is not None:
        query["end"] = (today - timedelta(days=end_days_ago)).isoformat()
    page = _get(finance_client, **query).content.decode()
    field_html = re.search(
        r'<div class="field field--error">\s*<label for="id_' + field + r'">.*?</div>', page, re.S
    )
    assert field_html, f"{field} is not marked as wrong"
    assert html.escape(message) in field_html.group(0)
    assert f'value="{query["start"]}"' in page  # the dates typed stay in the form
    assert not _sent(sandbox)  # and nothing was asked of Venice


def test_an_unknown_period_falls_back_to_this_month(finance_client):
    page = _get(finance_client, period="5d").content.decode()
    assert 'aria-current="page">This month</a>' in page
    assert "field--error" not in page


def test_a_period_date_out_of_range_is_a_field_error_not_a_crash(finance_client):
    from accounts.forms import DATE_OUT_OF_RANGE

    response = finance_client.get(reverse("billing:overview") + "?start=0001-01-01&end=2026-01-01")
    assert DATE_OUT_OF_RANGE in html.unescape(response.content.decode())


# --- two currencies, never added ----------------------------------------------------------------


def test_totals_and_spend_per_day_keep_usd_and_diem_apart(
    finance_client, sandbox, sandbox_session, sandbox_url
):
    today = _today(sandbox)
    start, end = today - timedelta(days=30), today - timedelta(days=1)  # 30 full days
    analytics = _analytics(sandbox_session, sandbox_url, start, end)
    response = _get(finance_client, period="last-30-days")
    overview = response.context["overview"]
    usd_total = sum(day["USD"] for day in analytics["byDate"])
    diem_total = sum(day["DIEM"] for day in analytics["byDate"])
    assert (overview.total_usd, overview.total_diem) == (usd_total, diem_total)
    page = response.content.decode()
    assert f">{usd(usd_total)}</p>" in page
    assert f">{diem(diem_total)}</p>" in page

    by_day = {date.fromisoformat(d["date"]): d for d in analytics["byDate"]}
    for chart, currency in ((overview.spend_usd_chart, "USD"), (overview.spend_diem_chart, "DIEM")):
        assert chart.unit == currency
        (series,) = chart.series  # one currency per chart: nothing to stack or compare
        assert series.name == currency
        assert list(series.values) == [by_day[d][currency] for d in sorted(by_day)]


def test_no_chart_on_the_page_mixes_currencies(finance_client):
    overview = _get(finance_client, period="last-30-days", breakdown="model").context["overview"]
    for chart in overview.charts:
        assert chart.unit in ("USD", "DIEM"), chart.title
        assert chart.unit in chart.title


def test_ranking_by_usd_is_in_usd_order_and_says_so(
    finance_client, sandbox, sandbox_session, sandbox_url
):
    today = _today(sandbox)
    analytics = _analytics(
        sandbox_session, sandbox_url, today - timedelta(days=90), today - timedelta(days=1)
    )
    response = _get(finance_client, period="last-90-days", currency="USD")
    overview = response.context["overview"]
    models = [m.usd for m in overview.models]
    assert models == sorted(models, reverse=True)
    assert {m.name: m.usd for m in overview.models} == {
        m["modelName"]: m["totalUsd"] for m in analytics["byModel"]
    }
    keys = [k.usd for k in overview.keys]
    assert keys == sorted(keys, reverse=True)
    # The charts draw the same order, in USD alone.
    (series,) = overview.models_chart.series
    assert overview.models_chart.unit == "USD"
    assert list(series.values) == models[:8]
    assert list(overview.models_chart.labels) == [m.name for m in overview.models[:8]]
    page = response.content.decode()
    assert 'Per model <span class="muted small">highest USD first</span>' in page
    assert 'class="num" aria-sort="descending">USD</th>' in page


def test_ranking_by_diem_orders_and_charts_diem(finance_client):
    overview = _get(finance_client, period="last-90-days", currency="DIEM").context["overview"]
    assert [k.diem for k in overview.keys] == sorted((k.diem for k in overview.keys), reverse=True)
    assert overview.keys_chart.unit == "DIEM"
    assert list(overview.keys_chart.series[0].values) == [k.diem for k in overview.keys[:8]]


def test_units_are_per_model_at_their_real_scale_and_never_per_key(
    finance_client, sandbox, sandbox_session, sandbox_url
):
    today = _today(sandbox)
    analytics = _analytics(
        sandbox_session, sandbox_url, today - timedelta(days=7), today - timedelta(days=1)
    )
    response = _get(finance_client, period="last-7-days")
    page = response.content.decode()
    per_model = page.split('id="per-model"')[1].split("</section>")[0]
    by_name = {m["modelName"]: m for m in analytics["byModel"]}
    for model in response.context["overview"].models:
        expected = units(by_name[model.name]["totalUnits"], by_name[model.name]["unitType"])
        assert model.units_shown == expected
        assert f">{expected}</td>" in per_model
    assert "M tokens" in per_model  # millions of tokens, as millions, not "135.71 tokens"
    per_key = page.split('id="per-key"')[1].split("</section>")[0]
    assert "Units" not in per_key  # a key's units would add tokens to seconds
    assert "does not break one key" in per_key


def test_the_web_app_is_a_key_row_of_its_own(finance_client):
    overview = _get(finance_client, period="last-30-days").context["overview"]
    web = [k for k in overview.keys if k.is_web_app]
    assert len(web) == 1 and web[0].name == "Web App"


# --- projection and breakdown -------------------------------------------------------------------


@pytest.mark.sandbox_at(datetime(2026, 11, 11, 12, 0, tzinfo=UTC))
def test_this_month_projects_to_the_months_end_at_its_average_so_far(finance_client):
    overview = _get(finance_client, period="this-month").context["overview"]
    projection = overview.projection
    assert projection.month_end == date(2026, 11, 30)
    elapsed = D("10.5")  # Nov 1 00:00 to Nov 11 12:00
    assert projection.usd == overview.total_usd * D(30) / elapsed
    assert projection.diem == overview.total_diem * D(30) / elapsed


@pytest.mark.sandbox_at(datetime(2026, 11, 1, 6, 0, tzinfo=UTC))
def test_the_first_day_of_a_month_is_too_early_to_project(finance_client):
    response = _get(finance_client, period="this-month")
    assert response.context["overview"].projection is None
    assert TOO_EARLY_TO_PROJECT in response.content.decode()


def test_the_breakdown_by_model_comes_from_one_call_per_day_in_one_currency(
    finance_client, sandbox, sandbox_session, sandbox_url
):
    today = _today(sandbox)
    days = [today - timedelta(days=n) for n in range(7, 0, -1)]
    overview = _get(
        finance_client, period="last-7-days", currency="DIEM", breakdown="model"
    ).context["overview"]
    calls = _sent(sandbox)
    for day in days:
        assert {"startDate": [day.isoformat()], "endDate": [day.isoformat()]} in calls
    chart = overview.breakdown_chart
    assert chart.unit == "DIEM"
    stacked = {s.name: s.values for s in chart.series}
    for index, day in enumerate(days):
        analytics = _analytics(sandbox_session, sandbox_url, day, day)
        expected = {m["modelName"]: m["totalDiem"] for m in analytics["byModel"]}
        shown = {name: values[index] for name, values in stacked.items() if name != OTHER}
        for name, value in shown.items():
            assert value == expected.get(name, 0)
        # Each day's stack is that day's whole DIEM spend: the top models plus "Other".
        assert sum(values[index] for values in stacked.values()) == sum(expected.values())


def test_a_breakdown_too_long_for_the_screen_says_so(finance_client, sandbox):
    today = _today(sandbox)
    response = _get(
        finance_client, start=(today - timedelta(days=120)).isoformat(), end=today, breakdown="key"
    )
    assert response.context["overview"].breakdown_chart is None
    assert BREAKDOWN_TOO_LONG in html.unescape(response.content.decode())


def test_the_breakdown_arrives_as_a_fragment_for_htmx(finance_client):
    response = finance_client.get(
        reverse("billing:overview"),
        {"period": "last-7-days", "breakdown": "key"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<section class="card section" id="breakdown"')
    assert "Spend per day by key in USD" in body


# --- links, failures, navigation ----------------------------------------------------------------


def test_usage_history_and_the_exports_get_the_periods_days(finance_client, sandbox):
    today = _today(sandbox)
    page = _get(finance_client, period="last-month").content.decode()
    last = today.replace(day=1) - timedelta(days=1)
    days = f"start={last.replace(day=1).isoformat()}&amp;end={last.isoformat()}"
    assert f'href="{reverse("billing:usage")}?{days}"' in page
    assert f'href="{reverse("billing:spend_by_key_csv")}?{days}"' in page
    assert f'href="{reverse("billing:spend_by_model_csv")}?{days}"' in page
    assert f'href="{reverse("billing:usage_csv")}?{days}"' in page


def test_an_upstream_failure_is_shown_in_place_of_the_analytics(
    finance_client, sandbox, no_backoff
):
    sandbox.faults.inject(ANALYTICS, status=503)
    page = _get(finance_client, period="last-7-days").content.decode()
    assert 'class="alert alert--error" role="alert"' in page
    assert "Try again in a minute" in page
    assert "Spend per day" not in page
    assert 'aria-current="page">Last 7 days</a>' in page  # the period picker is still there


def test_the_nav_shows_billing_to_roles_that_may_see_it(as_role):
    page = as_role(ADMINISTRATOR).get(reverse("dashboard")).content.decode()
    assert f'<a href="{reverse("billing:overview")}">Billing</a>' in page
    assert f'<a href="{reverse("limits:overview")}">Rate limits</a>' in page
