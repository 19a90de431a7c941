"""The sandbox's billing endpoints: balance, usage analytics, usage history and the sunset."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from accounts.sandbox.cursor import sign_cursor
from accounts.sandbox.rules import CURSOR_WITH_FILTERS, INVALID_CURSOR, USAGE_SUNSET

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FILENAME = re.compile(r"^attachment; filename=billing-usage-history-\d{8}T\d{9}Z\.csv$")


pytestmark = pytest.mark.sandbox_at(NOW)


def history(session, url, **params):
    return session.get(url("/billing/usage-history"), params=params)


def walk(session, url, **params):
    """Every entry of a walk, following nextCursor."""
    entries, page = [], history(session, url, **params).json()
    entries += page["data"]
    while page["nextCursor"]:
        page = history(session, url, cursor=page["nextCursor"]).json()
        entries += page["data"]
    return entries


def test_balance_reports_usd_diem_and_the_epoch_allocation(sandbox_session, sandbox_url):
    payload = sandbox_session.get(sandbox_url("/billing/balance")).json()

    assert payload["canConsume"] is True
    assert payload["consumptionCurrency"] == "DIEM"
    assert 0 < payload["balances"]["diem"] <= payload["diemEpochAllocation"]
    assert payload["balances"]["usd"] > 0


def test_usage_in_diem_lowers_the_diem_balance(sandbox_session, sandbox_url, sandbox):
    before = sandbox_session.get(sandbox_url("/billing/balance")).json()["balances"]["diem"]

    sandbox.use_key(sandbox.inference_key, diem=1.5)

    after = sandbox_session.get(sandbox_url("/billing/balance")).json()["balances"]["diem"]
    assert after == pytest.approx(before - 1.5, abs=1e-4)


def test_using_a_key_moves_last_used_and_trailing_usage(sandbox_session, sandbox_url, sandbox):
    key_id = sandbox.find_key(sandbox.inference_key).id
    before = sandbox_session.get(sandbox_url(f"/api_keys/{key_id}")).json()["data"]
    sandbox.clock.advance(90)

    entries = sandbox.use_key(sandbox.inference_key, usd=2.25, model="kimi-k2-6", tokens=4000)

    after = sandbox_session.get(sandbox_url(f"/api_keys/{key_id}")).json()["data"]
    assert after["lastUsedAt"] == "2026-11-25T12:01:30.000Z"
    week = float(after["usage"]["trailingSevenDays"]["usd"])
    assert week == pytest.approx(
        float(before["usage"]["trailingSevenDays"]["usd"]) + 2.25, abs=1e-4
    )
    period = float(after["currentPeriodUsage"]["usd"])
    assert period == pytest.approx(float(before["currentPeriodUsage"]["usd"]) + 2.25, abs=1e-4)
    (entry,) = entries
    assert entry["sku"] == "kimi-k2-6-llm-output-mtoken"
    assert entry["currency"] == "USD"
    assert entry["amount"] == pytest.approx(-2.25)


def test_the_sunset_usage_endpoint_answers_410_with_its_successor(sandbox_session, sandbox_url):
    response = sandbox_session.get(sandbox_url("/billing/usage"), params={"page": 1})

    assert response.status_code == 410
    assert response.json() == {"error": USAGE_SUNSET}
    assert response.headers["Link"] == '</api/v1/billing/usage-history>; rel="successor-version"'
    assert response.headers["Sunset"] == "Wed, 16 Sep 2026 00:00:00 GMT"
    assert response.headers["Deprecation"].startswith("@")


def test_usage_history_walks_ninety_days_in_ascending_order(sandbox_session, sandbox_url, sandbox):
    # About 2 s: the whole seeded ledger (13 pages of 1,000), each page checked against the spec.
    entries = walk(sandbox_session, sandbox_url)

    stamps = [entry["timestamp"] for entry in entries]
    assert stamps == sorted(stamps)
    assert entries == sandbox.ledger_entries()
    first = datetime.fromisoformat(stamps[0].replace("Z", "+00:00"))
    assert sandbox.clock.now() - first > timedelta(days=89)
    skus = {entry["sku"] for entry in entries}
    assert "zai-org-glm-5-1-llm-output-mtoken" in skus
    assert len({entry["currency"] for entry in entries}) == 3


def test_filters_select_a_currency_and_a_half_open_window(sandbox_session, sandbox_url, sandbox):
    start, end = NOW - timedelta(days=10), NOW - timedelta(days=3)

    entries = walk(
        sandbox_session,
        sandbox_url,
        currency="DIEM",
        startTimestamp="2026-11-15T12:00:00Z",
        endTimestamp="2026-11-22T12:00:00.000Z",
        pageSize=100,
    )

    assert entries == sandbox.ledger_entries(currency="DIEM", start=start, end=end)
    assert len(entries) > 100
    assert {entry["currency"] for entry in entries} == {"DIEM"}


@pytest.mark.parametrize("size", ["9", "1001", "ten"])
def test_page_size_must_be_10_to_1000(sandbox_session, sandbox_url, size):
    response = history(sandbox_session, sandbox_url, pageSize=size)

    assert response.status_code == 400
    assert response.json()["details"]["pageSize"]["_errors"]


def test_page_size_sets_the_page_length(sandbox_session, sandbox_url):
    page = history(sandbox_session, sandbox_url, pageSize=10).json()

    assert len(page["data"]) == 10
    assert re.fullmatch(r"[A-Za-z0-9_-]+", page["nextCursor"])
    assert len(page["nextCursor"]) <= 512


def test_filters_alongside_a_cursor_are_refused(sandbox_session, sandbox_url):
    cursor = history(sandbox_session, sandbox_url, pageSize=10).json()["nextCursor"]

    response = history(sandbox_session, sandbox_url, cursor=cursor, currency="USD")

    assert response.status_code == 400
    assert response.json()["error"] == CURSOR_WITH_FILTERS
    assert response.json()["details"]["currency"]["_errors"]


def test_a_tampered_cursor_is_refused(sandbox_session, sandbox_url):
    cursor = history(sandbox_session, sandbox_url, pageSize=10).json()["nextCursor"]
    flipped = cursor[:20] + ("A" if cursor[20] != "A" else "B") + cursor[21:]

    response = history(sandbox_session, sandbox_url, cursor=flipped)

    assert response.status_code == 400
    assert response.json()["error"] == INVALID_CURSOR


@pytest.mark.parametrize("cursor", ["abc", "not a cursor!", "A" * 600])
def test_garbage_cursors_are_refused(sandbox_session, sandbox_url, cursor):
    response = history(sandbox_session, sandbox_url, cursor=cursor)

    assert response.status_code == 400


def test_a_cursor_from_another_sandbox_is_refused(sandbox_session, sandbox_url, sandbox):
    from accounts.sandbox import Sandbox

    other = Sandbox(seed=42)
    foreign = other.handle(
        "GET",
        "/billing/usage-history",
        {"pageSize": ["10"]},
        {"Authorization": f"Bearer {other.admin_key}"},
        b"",
    ).json()["nextCursor"]

    response = history(sandbox_session, sandbox_url, cursor=foreign)

    assert response.status_code == 400


def test_a_cursor_signed_for_another_user_is_refused(sandbox_session, sandbox_url, sandbox):
    forged = sign_cursor(
        sandbox._cursor_secret,
        {"a": "someone-else", "c": None, "e": None, "p": 10, "m": 10, "t": 0, "q": 0, "i": 0},
    )

    assert history(sandbox_session, sandbox_url, cursor=forged).status_code == 400


def test_cursors_expire_after_a_day(sandbox_session, sandbox_url, sandbox):
    cursor = history(sandbox_session, sandbox_url, pageSize=10).json()["nextCursor"]
    sandbox.clock.advance(timedelta(hours=24, seconds=1))

    assert history(sandbox_session, sandbox_url, cursor=cursor).status_code == 400


def test_a_walk_is_stable_while_new_usage_arrives(sandbox_session, sandbox_url, sandbox):
    expected = sandbox.ledger_entries(start=NOW - timedelta(days=2))
    page = history(
        sandbox_session, sandbox_url, startTimestamp="2026-11-23T12:00:00Z", pageSize=50
    ).json()
    seen = list(page["data"])
    while page["nextCursor"]:
        # Usage keeps arriving, now and back-dated into the pages still to come.
        sandbox.use_key(sandbox.inference_key, usd=0.5)
        sandbox.add_usage_entries(5, start=NOW - timedelta(days=1), end=NOW, seed=len(seen))
        page = history(sandbox_session, sandbox_url, cursor=page["nextCursor"]).json()
        seen += page["data"]

    assert seen == expected


def test_csv_pages_carry_a_filename_and_the_next_cursor(sandbox_session, sandbox_url, sandbox):
    headers = {"Accept": "text/csv"}
    response = sandbox_session.get(
        sandbox_url("/billing/usage-history"), params={"pageSize": 500}, headers=headers
    )
    rows, names = [], []
    while True:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        assert FILENAME.match(response.headers["Content-Disposition"])
        names.append(response.headers["Content-Disposition"])
        rows += list(csv.DictReader(io.StringIO(response.text)))
        cursor = response.headers.get("x-next-cursor")
        if not cursor:
            break
        response = sandbox_session.get(
            sandbox_url("/billing/usage-history"), params={"cursor": cursor}, headers=headers
        )

    expected = sandbox.ledger_entries()
    assert len(rows) == len(expected)
    assert [row["timestamp"] for row in rows] == [entry["timestamp"] for entry in expected]
    assert [row["sku"] for row in rows] == [entry["sku"] for entry in expected]
    assert [float(row["amount"]) for row in rows] == [entry["amount"] for entry in expected]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_analytics_default_to_the_last_7_days(sandbox_session, sandbox_url):
    payload = sandbox_session.get(sandbox_url("/billing/usage-analytics")).json()

    assert payload["lookback"] == "7d"
    assert [day["date"] for day in payload["byDate"]][:2] == ["2026-11-25", "2026-11-24"]
    assert len(payload["byDate"]) == 7
    assert len(payload["topModels"]) <= 8 and len(payload["topKeyNames"]) <= 8
    web_app = [row for row in payload["byKey"] if row["description"] == "Web App"]
    assert web_app and web_app[0]["apiKeyId"] is None


def test_analytics_totals_match_the_ledger(sandbox_session, sandbox_url, sandbox):
    payload = sandbox_session.get(
        sandbox_url("/billing/usage-analytics"), params={"lookback": "30d"}
    ).json()

    start = datetime(2026, 10, 27, tzinfo=UTC)
    entries = sandbox.ledger_entries(start=start, end=NOW + timedelta(seconds=1))
    usd = sum(-e["amount"] for e in entries if e["currency"] != "DIEM")
    diem = sum(-e["amount"] for e in entries if e["currency"] == "DIEM")
    assert sum(day["USD"] for day in payload["byDate"]) == pytest.approx(usd, abs=1e-3)
    assert sum(day["DIEM"] for day in payload["byDate"]) == pytest.approx(diem, abs=1e-3)
    assert sum(row["totalDiem"] for row in payload["byKey"]) == pytest.approx(diem, abs=1e-3)
    spend = [row["totalUsd"] + row["totalDiem"] for row in payload["byModel"]]
    assert spend == sorted(spend, reverse=True)
    assert len(payload["topModels"]) == 8 < len(payload["byModel"])
    assert all(len(point) <= 9 for point in payload["byModelDaily"])


def test_analytics_take_a_date_range(sandbox_session, sandbox_url, sandbox):
    payload = sandbox_session.get(
        sandbox_url("/billing/usage-analytics"),
        params={"startDate": "2026-11-01", "endDate": "2026-11-03"},
    ).json()

    assert payload["lookback"] == "2026-11-01:2026-11-03"
    assert [day["date"] for day in payload["byDate"]] == ["2026-11-03", "2026-11-02", "2026-11-01"]


@pytest.mark.parametrize(
    "params",
    [
        {"lookback": "91d"},
        {"lookback": "0d"},
        {"lookback": "7"},
        {"startDate": "2026-11-01"},
        {"startDate": "2026-11-05", "endDate": "2026-11-01"},
        {"startDate": "2026-13-01", "endDate": "2026-13-02"},
    ],
)
def test_bad_analytics_parameters_are_400(sandbox_session, sandbox_url, params):
    response = sandbox_session.get(sandbox_url("/billing/usage-analytics"), params=params)

    assert response.status_code == 400
    assert response.json()["details"]


def test_rate_limits_report_tier_balances_and_per_model_limits(sandbox_session, sandbox_url):
    data = sandbox_session.get(sandbox_url("/api_keys/rate_limits")).json()["data"]

    assert data["apiTier"] == {"id": "paid", "isCharged": True}
    assert set(data["balances"]) == {"USD", "DIEM"}
    glm = next(m for m in data["rateLimits"] if m["apiModelId"] == "zai-org-glm-5-1")
    assert {limit["type"] for limit in glm["rateLimits"]} == {"RPM", "RPD", "TPM"}


def test_the_rate_limit_log_returns_the_last_50_newest_first(sandbox_session, sandbox_url, sandbox):
    sandbox.record_rate_limit_violation(sandbox.inference_key, kind="TPM")

    payload = sandbox_session.get(sandbox_url("/api_keys/rate_limits/log")).json()

    assert payload["object"] == "list"
    assert len(payload["data"]) == 50
    stamps = [item["timestamp"] for item in payload["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert payload["data"][0]["rateLimitType"] == "TPM"
    assert payload["data"][0]["apiKeyId"] == sandbox.find_key(sandbox.inference_key).id
