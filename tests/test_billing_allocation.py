"""/billing/allocation/ and its files: spend by team then key, adding up to the account's total
for the same range (Venice's own analytics, read here straight from the sandbox), with keys
assigned, unassigned, deleted during the month, and the web app's usage."""

import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.allocation import UNASSIGNED, WEB_APP_GROUP
from accounts.services.allocation_exports import ALLOCATION_COLUMNS, FOCUS_COLUMNS
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = pytest.mark.django_db

ANALYTICS = "/billing/usage-analytics"


def _account_totals(sandbox_session, sandbox_url, start, end) -> tuple[Decimal, Decimal]:
    query = f"startDate={start.isoformat()}&endDate={end.isoformat()}"
    body = sandbox_session.get(sandbox_url(f"{ANALYTICS}?{query}")).json(parse_float=Decimal)
    usd = sum((Decimal(str(day["USD"])) for day in body["byDate"]), Decimal(0))
    diem = sum((Decimal(str(day["DIEM"])) for day in body["byDate"]), Decimal(0))
    return usd, diem


@pytest.fixture
def month(sandbox):
    """Last month's days: a whole calendar month the seeded account spent in."""
    first_of_this = sandbox.clock.now().date().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


@pytest.fixture
def allocated(sandbox, shared_venice, make_team, assign, key_manager, month, admin_context):
    """Two teams with keys, keys left unassigned, and a key that spent today and was then
    deleted (assigned to Data before)."""
    data = make_team("Data", members=[key_manager], budget_usd="100", budget_diem="50")
    web = make_team("Web", budget_usd="5")
    keys = shared_venice.api_keys.list(fresh=True)
    inference = [key for key in keys if not key.is_admin]
    for key in inference[:3]:
        assign(key, data, owner=key_manager)
    for key in inference[3:5]:
        assign(key, web, contact="web-oncall@example.com")
    doomed = shared_venice.api_keys.create("Short-lived batch job")
    assign(doomed, data, contact="batch@example.com")
    sandbox.use_key(doomed.id, usd=1.25, diem=0.5)
    from accounts.services.keys import api_key_delete

    api_key_delete(context=admin_context, key=shared_venice.api_keys.get(doomed.id, fresh=True))
    return {"data": data, "web": web, "doomed": doomed, "inference": inference}


def _page(client, **query):
    response = client.get(reverse("billing:allocation"), query)
    assert response.status_code == 200, response.content[:500]
    return response.context["allocation"], response


def test_last_month_adds_up_to_the_accounts_own_total_to_the_cent_and_the_diem_unit(
    finance_client, allocated, month, sandbox_session, sandbox_url
):
    start, end = month
    allocation, response = _page(finance_client, month=start.strftime("%Y-%m"))
    assert (allocation.period.start, allocation.period.end) == (start, end)
    usd, diem = _account_totals(sandbox_session, sandbox_url, start, end)
    assert allocation.account_usd == usd and allocation.account_diem == diem
    # Only Venice's rounding of each day's figures to six decimals remains.
    days = (end - start).days + 1
    assert abs(allocation.difference_usd) <= Decimal("0.0000005") * (days + 1)
    assert abs(allocation.difference_diem) <= Decimal("0.0000005") * (days + 1)
    assert allocation.adds_up
    names = [team.name for team in allocation.teams]
    assert names[:2] == ["Data", "Web"] and UNASSIGNED in names and WEB_APP_GROUP in names
    assert all(team.usd or team.diem for team in allocation.teams if team.team is None)
    assert "adds up" in response.content.decode()


def test_a_key_deleted_this_month_still_counts_for_its_team_today(
    finance_client, allocated, sandbox, sandbox_session, sandbox_url
):
    today = sandbox.clock.now().date()
    allocation, _ = _page(finance_client, start=today.isoformat(), end=today.isoformat())
    data = next(team for team in allocation.teams if team.name == "Data")
    doomed = data.keys[allocated["doomed"].id]
    assert doomed.usd == Decimal("1.25") and doomed.diem == Decimal("0.5")
    assert doomed.owner == "batch@example.com"
    usd, diem = _account_totals(sandbox_session, sandbox_url, today, today)


def test_this_month_compares_each_team_with_its_budget_and_projects_it(finance_client, allocated):
    allocation, response = _page(finance_client, period="this-month")
    assert allocation.is_one_month
    page = response.content.decode()
    assert "Budget against actual" in page
    assert "of $100.00" in page and "of $5.00" in page
    data = next(team for team in allocation.teams if team.name == "Data")
    if allocation.projection is not None:
        assert data.projection is not None and data.projection.usd >= data.usd


def test_the_csv_rows_sum_to_the_pages_totals_and_say_there_is_no_model_split(
    finance_client, allocated, month
):
    start, end = month
    allocation, _ = _page(finance_client, start=start.isoformat(), end=end.isoformat())
    response = finance_client.get(
        reverse("billing:allocation_csv"), {"start": start.isoformat(), "end": end.isoformat()}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="venice-allocation-{start}_{end}.csv"'
    )
    rows = read_csv(streamed_text(response))
    assert tuple(rows[0]) == ALLOCATION_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert sum(Decimal(r["usd"]) for r in records) == allocation.total_usd
    assert sum(Decimal(r["diem"]) for r in records) == allocation.total_diem
    for team in allocation.teams:
        mine = [r for r in records if r["team"] == team.name]
        assert sum(Decimal(r["usd"]) for r in mine) == team.usd
        assert sum(Decimal(r["diem"]) for r in mine) == team.diem
    assert {r["models"] for r in records} == {
        "all models (Venice gives no per-key model breakdown)"
    }
    assert any(r["team"] == WEB_APP_GROUP and r["key_id"] == "" for r in records)
    # Audited like the usage files: the filters, the file name, and the row count.
    record = AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.details["export"] == "allocation"
    assert record.details["rows"] == len(records)


def _validate_focus(path: Path, report: Path) -> str:
    """focus-validator's unittest report for the file (it exits 0 even on failures). It reads
    its ISO currency list from a path relative to the working directory
    ("focus_validator/utils/currency_codes.csv"), so it runs from the directory that holds
    its package, or every currency code would fail."""
    import focus_validator

    validator = Path(sys.executable).with_name("focus-validator")
    subprocess.run(  # noqa: S603 - our own venv's validator, our own file
        [
            str(validator),
            "--data-file",
            str(path),
            "--validate-version",
            "1.0",
            "--output-type",
            "unittest",
            "--output-destination",
            str(report),
        ],
        check=False,
        capture_output=True,
        timeout=300,
        cwd=Path(focus_validator.__file__).resolve().parents[1],
    )
    return report.read_text()


def test_the_focus_file_passes_the_finops_foundations_validator(
    finance_client, allocated, month, tmp_path
):
    start, end = month
    response = finance_client.get(
        reverse("billing:allocation_csv"),
        {"start": start.isoformat(), "end": end.isoformat(), "format": "focus"},
    )
    assert response.status_code == 200
    text = streamed_text(response)
    rows = read_csv(text)
    assert tuple(rows[0]) == FOCUS_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    # DIEM is never summed with USD: its rows bill 0 USD and carry the DIEM apart.
    diem_rows = [r for r in records if r["PricingCurrency"] == "DIEM"]
    assert diem_rows and all(r["BilledCost"] == "0" for r in diem_rows)
    allocation, _ = _page(finance_client, start=start.isoformat(), end=end.isoformat())
    assert sum(Decimal(r["BilledCost"]) for r in records) == allocation.total_usd
    assert sum(Decimal(r["PricingCurrencyEffectiveCost"]) for r in diem_rows) == (
        allocation.total_diem
    )
    assert {r["SubAccountName"] for r in records} >= {"Data", "Web", UNASSIGNED}
    path = tmp_path / "focus.csv"
    path.write_text(text)
    report = _validate_focus(path, tmp_path / "report.xml")
    failed = re.findall(r'<failure name="([^"]+)" message="([^"]*)"', report)
    assert 'failures="0"' in report and 'errors="0"' in report, failed or report[:2000]


def test_a_bad_range_is_a_field_error_not_a_file(finance_client, sandbox):
    today = sandbox.clock.now().date()
    response = finance_client.get(
        reverse("billing:allocation_csv"),
        {"start": today.isoformat(), "end": (today - timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 400
    assert "must be on or before the end date" in response.content.decode()


def test_venice_down_is_a_readable_message(finance_client, sandbox, no_backoff):
    sandbox.faults.inject(ANALYTICS, "GET", status=503, times=50)
    response = finance_client.get(reverse("billing:allocation"), {"period": "yesterday"})
    assert response.status_code == 200
    assert response.context["error"]
    assert "alert--error" in response.content.decode()


def _allocation(*, teams_usd, account_usd, teams_diem="0", account_diem="0"):
    from datetime import date

    from accounts.services.allocation import AllocatedTeam, Allocation
    from accounts.services.billing_periods import Period

    team = AllocatedTeam(name="Data", slug="data", team=None)
    team.usd, team.diem = Decimal(teams_usd), Decimal(teams_diem)
    return Allocation(
        period=Period(date(2026, 11, 1), date(2026, 11, 30)),
        teams=[team],
        days=[],
        account_usd=Decimal(account_usd),
        account_diem=Decimal(account_diem),
    )


@pytest.mark.parametrize(
    ("teams_usd", "account_usd", "teams_diem", "account_diem", "adds_up"),
    [
        # Venice's per-day rounding straddling a cent or a DIEM unit: both sides are shown
        # the same, and the difference is millionths.
        ("103.484999", "103.485002", "1", "1", True),
        ("1", "1", "276.460049", "276.460056", True),
        # A cent, or a ten-thousandth of a DIEM, apart.
        ("103.48", "103.49", "1", "1", False),
        ("1", "1", "276.4600", "276.4601", False),
    ],
)
def test_adding_up_allows_venices_rounding_and_nothing_more(
    teams_usd, account_usd, teams_diem, account_diem, adds_up
):
    allocation = _allocation(
        teams_usd=teams_usd,
        account_usd=account_usd,
        teams_diem=teams_diem,
        account_diem=account_diem,
    )
    assert allocation.adds_up is adds_up
