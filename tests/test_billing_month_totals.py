"""A finance lead's question: what did we spend in a month, in USD and in DIEM? The billing page,
the ledger export a spreadsheet sums, and Venice's analytics must give the same answer."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.presentation.numbers import diem, usd
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = [
    pytest.mark.django_db,
    # Seeded 90 days back from here: October 2026 has days of bundled credits, November is
    # whole, and "Last month" is December.
    pytest.mark.sandbox_at(datetime(2027, 1, 20, 15, 30, tzinfo=UTC)),
]

ROUNDING = Decimal("0.0000005")  # the analytics round each day's figure to 6 decimals


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [
        ({"period": "last-month"}, date(2026, 12, 1), date(2026, 12, 31)),
        ({"start": "2026-11-01", "end": "2026-11-30"}, date(2026, 11, 1), date(2026, 11, 30)),
        ({"start": "2026-10-01", "end": "2026-10-31"}, date(2026, 10, 1), date(2026, 10, 31)),
    ],
)
def test_the_page_the_export_and_the_analytics_agree_on_a_month(
    finance_client, sandbox_session, sandbox_url, query, first, last
):
    page = finance_client.get(reverse("billing:overview"), query)
    overview = page.context["overview"]
    assert (overview.period.start, overview.period.end) == (first, last)

    analytics = sandbox_session.get(
        sandbox_url(f"/billing/usage-analytics?startDate={first}&endDate={last}")
    ).json(parse_float=Decimal)
    assert overview.total_usd == sum(day["USD"] for day in analytics["byDate"])
    assert overview.total_diem == sum(day["DIEM"] for day in analytics["byDate"])

    # The ledger for the same days, as a spreadsheet would sum its columns.
    export = finance_client.get(
        reverse("billing:usage_csv"), {"start": first.isoformat(), "end": last.isoformat()}
    )
    rows = read_csv(streamed_text(export))
    header, body = rows[0], rows[1:]
    assert body and not any(row[0] == "ERROR" for row in body)

    def column(name):
        index = header.index(name)
        return sum((Decimal(row[index]) for row in body if row[index]), Decimal(0))

    # Bundled credits are USD-valued, and the analytics count them in USD.
    ledger_usd = column("usd") + column("bundled_credits_usd")
    ledger_diem = column("diem")
    days = (last - first).days + 1
    assert abs(ledger_usd - overview.total_usd) <= ROUNDING * days
    assert abs(ledger_diem - overview.total_diem) <= ROUNDING * days
    # To the cent, as the page shows them.
    shown = page.content.decode()
    assert f">{usd(ledger_usd)}</p>" in shown
    assert f">{diem(ledger_diem)}</p>" in shown
    if first.month == 10:
        assert column("bundled_credits_usd") > 0  # this month did draw on bundled credits
