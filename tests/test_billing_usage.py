"""/billing/usage/: the usage history table, its filters, and "load more" along the cursor."""

import html
import re
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from accounts.forms import START_AFTER_END
from accounts.services.billing import CURSOR_REJECTED, HISTORY_PAGE_SIZE
from accounts.templatetags.billing_format import precise

pytestmark = pytest.mark.django_db

HISTORY = "/billing/usage-history"
ROW = re.compile(
    r'<td class="nowrap" data-label="Time \(UTC\)">([^<]+)</td>\s*'
    r'<td class="mono small usage__sku" data-label="SKU">([^<]+)</td>\s*'
    r'<td data-label="Model or notes">([^<]+)</td>\s*'
    r'<td class="num" data-label="Units">([^<]+)</td>\s*'
    r'<td class="num" data-label="Price / unit \(USD\)">([^<]+)</td>\s*'
    r'<td class="num" data-label="Amount">([^<]+)</td>\s*'
    r'<td data-label="Currency">([^<]+)</td>'
)


def _rows(page: str) -> list[tuple]:
    return [tuple(html.unescape(cell) for cell in row) for row in ROW.findall(page)]


def _expected(entries: list[dict]) -> list[tuple]:
    """Ledger entries (as the API shows them) as the table shows them."""
    rows = []
    for entry in entries:
        when = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
        rows.append(
            (
                f"{when:%Y-%m-%d %H:%M:%S}",
                entry["sku"],
                entry["notes"],
                precise(Decimal(str(entry["units"]))),
                precise(Decimal(str(entry["pricePerUnitUsd"]))),
                precise(Decimal(str(entry["amount"]))),
                entry["currency"],
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


def test_the_first_page_is_the_oldest_entries_in_order(finance_client, sandbox):
    response = finance_client.get(reverse("billing:usage"))
    assert response.status_code == 200
    page = response.content.decode()
    assert _rows(page) == _expected(sandbox.ledger_entries()[:HISTORY_PAGE_SIZE])
    assert _history_requests(sandbox)[-1].query == {"pageSize": [str(HISTORY_PAGE_SIZE)]}


def test_load_more_continues_exactly_where_the_previous_page_ended(finance_client, sandbox):
    page = finance_client.get(reverse("billing:usage")).content.decode()
    shown = _rows(page)
    url = _next_url(page)
    for _ in range(3):
        assert url
        response = finance_client.get(url, HTTP_HX_REQUEST="true")
        fragment = response.content.decode()
        assert response.status_code == 200
        assert "<html" not in fragment
        assert fragment.lstrip().startswith("<tr>")
        new = _rows(fragment)
        assert len(new) == HISTORY_PAGE_SIZE
        shown += new
        url = _next_url(fragment)
    # Four pages, no gap and no duplicate: exactly the ledger's first 200 entries.
    assert shown == _expected(sandbox.ledger_entries()[: 4 * HISTORY_PAGE_SIZE])
    # Continuations sent the cursor and nothing else (the API rejects filters beside it).
    continuations = _history_requests(sandbox)[1:]
    assert len(continuations) == 3
    assert all(set(r.query) == {"cursor"} for r in continuations)


def test_filters_apply_to_the_first_page_and_travel_in_the_cursor(finance_client, sandbox):
    query = {"currency": "DIEM", "start": "2026-01-01", "end": "2030-12-31"}
    page = finance_client.get(reverse("billing:usage"), query).content.decode()
    first = _history_requests(sandbox)[-1].query
    assert first == {
        "pageSize": [str(HISTORY_PAGE_SIZE)],
        "currency": ["DIEM"],
        "startTimestamp": ["2026-01-01T00:00:00.000Z"],
        "endTimestamp": ["2031-01-01T00:00:00.000Z"],  # the end day is included
    }
    expected = _expected(
        sandbox.ledger_entries(
            currency="DIEM",
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2031, 1, 1, tzinfo=UTC),
        )[: 2 * HISTORY_PAGE_SIZE]
    )
    rows = _rows(page)
    rows += _rows(finance_client.get(_next_url(page), HTTP_HX_REQUEST="true").content.decode())
    assert rows == expected
    assert {row[6] for row in rows} == {"DIEM"}
    # The CSV link exports what the table shows.
    csv_link = re.search(r'href="([^"]*usage\.csv[^"]*)"', page).group(1)
    assert parse_qs(urlparse(html.unescape(csv_link)).query) == {
        "currency": ["DIEM"],
        "start": ["2026-01-01"],
        "end": ["2030-12-31"],
    }


def test_the_last_page_says_the_history_ends(finance_client, sandbox):
    sandbox.add_usage_entries(
        5, start=datetime(2020, 3, 1, tzinfo=UTC), end=datetime(2020, 3, 2, tzinfo=UTC)
    )
    page = finance_client.get(
        reverse("billing:usage"), {"start": "2020-03-01", "end": "2020-03-01"}
    ).content.decode()
    assert len(_rows(page)) == 5
    assert _next_url(page) is None
    assert "End of the history." in page


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


def test_a_later_page_opened_without_javascript_says_so(finance_client):
    page = finance_client.get(reverse("billing:usage")).content.decode()
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


def test_a_failed_load_more_offers_to_try_the_same_page_again(finance_client, sandbox, no_backoff):
    page = finance_client.get(reverse("billing:usage")).content.decode()
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
