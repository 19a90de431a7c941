"""/billing/usage/: the ledger from Venice's current day, by date, currency, model or key."""

import html
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.forms import KEY_AND_MODEL, START_AFTER_END
from accounts.presentation import names, numbers
from accounts.services.usage_history import CURSOR_REJECTED, HISTORY_PAGE_SIZE
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

pytestmark = pytest.mark.django_db

HISTORY = "/billing/usage-history"
ROW = re.compile(
    r'<td class="nowrap" data-label="Time">'
    r'<time datetime="[^"]+" title="([^"]+)">[^<]+</time></td>\s*'
    r'<td data-label="Model" title="([^"]+)">([^<]+)</td>\s*'
    r'<td data-label="Charge">([^<]+)</td>\s*'
    r'<td class="num" data-label="Units">([^<]+)</td>\s*'
    r'<td class="num" data-label="Cost" title="Exactly ([^ ]+) [^"]+">([^<]+)</td>\s*'
    r'<td data-label="Currency">([^<]+)</td>'
)


def _rows(page: str) -> list[tuple]:
    return [tuple(html.unescape(cell) for cell in row) for row in ROW.findall(page)]


def _expected(entries: list[dict]) -> list[tuple]:
    """Ledger entries (as the API shows them) as the table shows them: the model by name,
    units at their real scale, the cost positive in its currency's format, the exact amount
    on hover."""
    rows = []
    for entry in entries:
        when = datetime.fromisoformat(entry["timestamp"]).astimezone(UTC)
        info = names.sku_info(entry["sku"])
        amount = Decimal(str(entry["amount"]))
        count = Decimal(str(entry["units"])) * info.unit.per_ledger_unit
        rows.append(
            (
                f"{when:%Y-%m-%d %H:%M:%S} UTC",
                entry["sku"],
                info.model_name,
                info.kind,
                numbers.units(count, info.unit, ledger_scale=False, compact=False),
                numbers.exact(amount),
                numbers.money(abs(amount), entry["currency"]),
                names.currency_label(entry["currency"]),
            )
        )
    return rows


def _next_url(page: str) -> str | None:
    match = re.search(r'<a class="btn" href="([^"]+)" hx-get="([^"]+)"[^>]*>Load more</a>', page)
    if not match:
        return None
    href, hx_get = (html.unescape(url) for url in match.groups())
    assert href == hx_get  # works the same with or without JavaScript
    return href


def _history_requests(sandbox):
    return [r for r in sandbox.received if r.path == HISTORY]


def _day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture
def today(sandbox) -> date:
    return sandbox.clock.now().date()


def test_the_history_opens_at_venices_current_day_not_its_oldest_entry(
    finance_client, sandbox, today
):
    page = finance_client.get(reverse("billing:usage")).content.decode()
    assert _history_requests(sandbox)[-1].query == {
        "pageSize": [str(HISTORY_PAGE_SIZE)],
        "startTimestamp": [f"{today.isoformat()}T00:00:00.000Z"],
        "endTimestamp": [f"{today + timedelta(days=1)}T00:00:00.000Z"],
    }
    entries = sandbox.ledger_entries(start=_day(today), end=_day(today + timedelta(days=1)))
    assert entries  # the seeded account has used Venice today
    assert _rows(page) == _expected(entries[:HISTORY_PAGE_SIZE])
    assert f'value="{today.isoformat()}"' in page  # the form says which day it is


def test_load_more_continues_exactly_where_the_previous_page_ended(finance_client, sandbox, today):
    week = {"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()}
    page = finance_client.get(reverse("billing:usage"), week).content.decode()
    shown = _rows(page)
    url = _next_url(page)
    for _ in range(2):
        assert url
        response = finance_client.get(url, HTTP_HX_REQUEST="true")
        fragment = response.content.decode()
        assert "<html" not in fragment
        assert fragment.lstrip().startswith("<tr>")
        new = _rows(fragment)
        assert len(new) == HISTORY_PAGE_SIZE
        shown += new
        url = _next_url(fragment)
    expected = sandbox.ledger_entries(
        start=_day(today - timedelta(days=6)), end=_day(today + timedelta(days=1))
    )
    assert shown == _expected(expected[: 3 * HISTORY_PAGE_SIZE])  # no gap, no duplicate
    continuations = _history_requests(sandbox)[1:]
    assert all(set(r.query) == {"cursor"} for r in continuations)  # Venice's rule


def test_filters_apply_to_the_first_page_and_travel_in_the_cursor(finance_client, sandbox):
    query = {"currency": "DIEM", "start": "2026-01-01", "end": "2030-12-31"}
    page = finance_client.get(reverse("billing:usage"), query).content.decode()
    assert _history_requests(sandbox)[-1].query == {
        "pageSize": [str(HISTORY_PAGE_SIZE)],
        "currency": ["DIEM"],
        "startTimestamp": ["2026-01-01T00:00:00.000Z"],
        "endTimestamp": ["2031-01-01T00:00:00.000Z"],  # the end day is included
    }
    rows = _rows(page)
    rows += _rows(finance_client.get(_next_url(page), HTTP_HX_REQUEST="true").content.decode())
    expected = sandbox.ledger_entries(
        currency="DIEM", start=_day(date(2026, 1, 1)), end=_day(date(2031, 1, 1))
    )
    assert rows == _expected(expected[: 2 * HISTORY_PAGE_SIZE])
    assert {row[7] for row in rows} == {"DIEM"}


def test_a_model_filter_keeps_that_models_rows_across_pages(finance_client, sandbox, today):
    model = "kimi-k2-6"
    month = {"start": (today - timedelta(days=29)).isoformat(), "end": today.isoformat()}
    page = finance_client.get(reverse("billing:usage"), {**month, "model": model}).content.decode()
    # Venice cannot filter by model: the walk reads full pages and the SKU decides.
    first = _history_requests(sandbox)[0].query
    assert "model" not in first and first["pageSize"] == ["1000"]
    rows = _rows(page)
    url = _next_url(page)
    while url:
        assert "model=kimi-k2-6" in url  # the model filter travels beside the cursor
        fragment = finance_client.get(url, HTTP_HX_REQUEST="true").content.decode()
        rows += _rows(fragment)
        url = _next_url(fragment)
    entries = sandbox.ledger_entries(
        start=_day(today - timedelta(days=29)), end=_day(today + timedelta(days=1))
    )
    kimi = [e for e in entries if names.sku_info(e["sku"]).model_id == model]
    assert len(entries) > 1000  # more than one upstream page had to be read
    assert rows == _expected(kimi)  # every one of its rows, in order, and no other model's


def test_token_counts_appear_once_per_request(finance_client, sandbox, today):
    page = finance_client.get(reverse("billing:usage")).content.decode()
    cells = re.findall(r'data-label="Tokens in / out">([^<]+)</td>', page)
    entries = sandbox.ledger_entries(start=_day(today), end=_day(today + timedelta(days=1)))
    requests = {e["inferenceDetails"]["requestId"] for e in entries if e["inferenceDetails"]}
    counted = [c for c in cells if c != "—"]
    assert len(counted) == len(
        {
            e["inferenceDetails"]["requestId"]
            for e in entries[:HISTORY_PAGE_SIZE]
            if e["inferenceDetails"] and e["inferenceDetails"]["promptTokens"] is not None
        }
    )
    assert len(requests) < len(entries)  # requests do have several rows


def test_a_keys_spend_per_day_comes_from_the_analytics(
    finance_client, sandbox, sandbox_session, sandbox_url, today
):
    key_id = seeded_key_id(INFERENCE_KEY)
    start, end = today - timedelta(days=3), today - timedelta(days=1)
    response = finance_client.get(
        reverse("billing:usage"),
        {"start": start.isoformat(), "end": end.isoformat(), "key": key_id},
    )
    shown = response.context["key_days"]
    assert [d.day for d in shown] == [start, start + timedelta(days=1), end]
    for day in shown:
        query = f"startDate={day.day.isoformat()}&endDate={day.day.isoformat()}"
        analytics = sandbox_session.get(sandbox_url(f"/billing/usage-analytics?{query}")).json(
            parse_float=Decimal
        )
        (row,) = [k for k in analytics["byKey"] if k["apiKeyId"] == key_id]
        assert (day.usd, day.diem) == (row["totalUsd"], row["totalDiem"])
    page = response.content.decode()
    assert "does not say which key made a charge" in page
    assert not _history_requests(sandbox)  # the ledger cannot answer this


def test_a_key_and_a_model_together_are_refused_with_the_reason(finance_client, sandbox, today):
    response = finance_client.get(
        reverse("billing:usage"),
        {
            "start": today.isoformat(),
            "end": today.isoformat(),
            "key": "web-app",
            "model": "qwen3-4b",
        },
    )
    assert html.escape(KEY_AND_MODEL) in response.content.decode()
    assert not sandbox.received or not _history_requests(sandbox)


def test_the_downloads_submit_the_filter_form_as_it_stands(finance_client):
    page = finance_client.get(reverse("billing:usage")).content.decode()
    form = re.search(r'<form method="get" action="/billing/usage/".*?</form>', page, re.S).group(0)
    csv_url = reverse("billing:usage_csv")
    assert f'<button type="submit" class="btn" formaction="{csv_url}">Download CSV</button>' in form
    assert f'formaction="{csv_url}" name="format" value="venice"' in form


def test_the_last_page_says_the_history_ends(finance_client, sandbox):
    sandbox.add_usage_entries(
        5, start=datetime(2020, 3, 1, tzinfo=UTC), end=datetime(2020, 3, 2, tzinfo=UTC)
    )
    page = finance_client.get(
        reverse("billing:usage"), {"start": "2020-03-01", "end": "2020-03-01"}
    ).content.decode()
    assert len(_rows(page)) == 5
    assert _next_url(page) is None
    assert "End of the history for these days." in page


def test_a_rejected_cursor_offers_to_restart_from_the_first_page(finance_client, sandbox):
    response = finance_client.get(reverse("billing:usage"), {"cursor": "c3RhbGUtY3Vyc29y"})
    page = response.content.decode()
    assert response.status_code == 200
    assert html.escape(CURSOR_REJECTED) in page
    assert f'href="{reverse("billing:usage")}">Restart from the first page</a>' in page
    assert _history_requests(sandbox)[-1].query == {"cursor": ["c3RhbGUtY3Vyc29y"]}


def test_a_rejected_cursor_during_load_more_replaces_the_button_with_the_restart_link(
    finance_client,
):
    response = finance_client.get(
        reverse("billing:usage"), {"cursor": "c3RhbGUtY3Vyc29y"}, HTTP_HX_REQUEST="true"
    )
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert html.escape(CURSOR_REJECTED) in fragment
    assert "Restart from the first page</a>" in fragment
    assert "Load more" not in fragment


def test_a_malformed_cursor_never_reaches_venice(finance_client, sandbox):
    page = finance_client.get(
        reverse("billing:usage"), {"cursor": "not a cursor!"}
    ).content.decode()
    assert html.escape(CURSOR_REJECTED) in page
    assert _history_requests(sandbox) == []


def test_a_later_page_opened_without_javascript_says_so(finance_client, today):
    week = {"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()}
    page = finance_client.get(reverse("billing:usage"), week).content.decode()
    later = finance_client.get(_next_url(page)).content.decode()
    assert "<html" in later
    assert "This is a later page of the history" in later
    assert len(_rows(later)) == HISTORY_PAGE_SIZE


def test_start_after_end_is_an_error_on_the_start_field(finance_client, sandbox):
    page = finance_client.get(
        reverse("billing:usage"), {"start": "2026-05-02", "end": "2026-05-01"}
    ).content.decode()
    assert re.search(
        r'<div class="field field--error">\s*<label for="id_start">.*?'
        + re.escape(html.escape(START_AFTER_END)),
        page,
        re.S,
    )
    assert _history_requests(sandbox) == []


def test_an_upstream_failure_is_shown_instead_of_the_table(finance_client, sandbox, no_backoff):
    sandbox.faults.inject(HISTORY, status=503)
    page = finance_client.get(reverse("billing:usage")).content.decode()
    assert 'class="alert alert--error" role="alert"' in page
    assert "Try again in a minute" in page
    assert _rows(page) == []


def test_a_failed_load_more_offers_to_try_the_same_page_again(
    finance_client, sandbox, no_backoff, today
):
    week = {"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()}
    page = finance_client.get(reverse("billing:usage"), week).content.decode()
    url = _next_url(page)
    sandbox.faults.inject(HISTORY, status=503)
    fragment = finance_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Try again in a minute" in fragment
    retry = re.search(r'href="([^"]+)" hx-get="[^"]+"[^>]*>Try again</a>', fragment).group(1)
    assert html.unescape(retry) == url


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=0001-01-01"])
def test_a_date_out_of_range_is_a_field_error_not_a_crash(finance_client, sandbox, query):
    from accounts.forms import DATE_OUT_OF_RANGE

    response = finance_client.get(f"{reverse('billing:usage')}?{query}")
    assert response.status_code == 200
    field = query.split("=")[0]
    assert re.search(
        rf'<div class="field field--error">\s*<label for="id_{field}">.*?'
        + re.escape(html.escape(DATE_OUT_OF_RANGE)),
        response.content.decode(),
        re.S,
    )
    assert not _history_requests(sandbox)
