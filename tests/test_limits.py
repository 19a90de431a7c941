"""/limits/: tier, access, next epoch, the sortable per-model limits and the violation log."""

import html
import re
from datetime import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.presentation import dates
from accounts.presentation.names import model_name, rate_limit_type_label
from accounts.roles import KEY_MANAGER
from accounts.services.limits import model_limit_rows
from accounts.venice import ModelRateLimit, RateLimits

pytestmark = pytest.mark.django_db

UNAVAILABLE = "Try again in a minute"


def _page(client, **query) -> str:
    response = client.get(reverse("limits:overview"), query)
    assert response.status_code == 200
    return response.content.decode()


def _limit_rows(page: str) -> list[list[str]]:
    table = re.search(r'<table class="table table--limits">(.*?)</table>', page, re.S).group(1)
    body = table.split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _log_rows(page: str) -> list[list[str]]:
    section = page.split('id="limits-log"')[1]
    match = re.search(r"<tbody>(.*?)</tbody>", section, re.S)
    if not match:
        return []
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S)
    ]


@pytest.fixture
def limits_json(sandbox_session, sandbox_url):
    return sandbox_session.get(sandbox_url("/api_keys/rate_limits")).json(parse_float=Decimal)[
        "data"
    ]


@pytest.fixture
def log_json(sandbox_session, sandbox_url):
    return sandbox_session.get(sandbox_url("/api_keys/rate_limits/log")).json()["data"]


def test_tier_access_and_next_epoch_are_shown(as_role, limits_json):
    page = _page(as_role(KEY_MANAGER))
    assert f'<p class="stat">{limits_json["apiTier"]["id"]}</p>' in page
    assert "Permitted</span>" in page
    epoch = datetime.fromisoformat(limits_json["nextEpochBegins"].replace("Z", "+00:00"))
    assert dates.prose(epoch) in page  # "Dec 3, 2026, 00:00 UTC": prose dates say the year


def test_every_model_is_listed_with_its_limits_sorted_by_name(finance_client, limits_json):
    rows = _limit_rows(_page(finance_client))
    expected = []
    by_name = sorted(limits_json["rateLimits"], key=lambda m: model_name(m["apiModelId"]).lower())
    for model in by_name:
        limits = {item["type"]: item["amount"] for item in model["rateLimits"]}
        name = model_name(model["apiModelId"])
        expected.append(
            [
                # The model's display name, as Billing shows it, with its id to copy.
                f"{name} {model['apiModelId']}" if name != model["apiModelId"] else name,
                *(f"{int(limits[t]):,}" if t in limits else "—" for t in ("RPM", "RPD", "TPM")),
            ]
        )
    assert rows == expected


def test_a_limit_type_no_model_has_gets_no_column(finance_client):
    page = _page(finance_client)
    assert "Tokens / minute" in page
    assert "Tokens / day" not in page  # Venice reports no daily token limits here


def test_sorting_by_a_column_descending_keeps_models_without_that_limit_last(finance_client):
    page = _page(finance_client, sort="-tpm")
    rows = _limit_rows(page)
    with_tpm = [row for row in rows if row[3] != "—"]
    assert rows[: len(with_tpm)] == with_tpm
    values = [int(row[3].replace(",", "")) for row in with_tpm]
    assert values == sorted(values, reverse=True)
    assert all(row[3] == "—" for row in rows[len(with_tpm) :])
    # The heading says how the table is sorted and offers the other direction.
    heading = re.search(
        r'<th scope="col" class="num" aria-sort="descending">\s*'
        r'<a href="([^"]+)"><span class="label-long">Tokens / minute',
        page,
    )
    assert heading
    assert html.unescape(heading.group(1)) == "?sort=tpm"


def test_sort_links_keep_the_log_filters(finance_client):
    page = _page(finance_client, type="RPM")
    link = re.search(r'<a href="([^"]+)"><span class="label-long">Requests / day', page).group(1)
    assert html.unescape(link) == "?type=RPM&sort=rpd"


def test_an_unknown_sort_falls_back_to_the_model_name(finance_client):
    rows = _limit_rows(_page(finance_client, sort="price"))
    names = [row[0] for row in rows]
    assert names == sorted(names, key=str.lower)


def test_the_log_lists_the_last_violations_newest_first_with_key_names(
    finance_client, log_json, sandbox_session, sandbox_url
):
    keys = {
        k["id"]: (k["description"], k["last6Chars"])
        for k in sandbox_session.get(sandbox_url("/api_keys")).json()["data"]
    }
    rows = _log_rows(_page(finance_client))
    assert len(rows) == len(log_json) == 50
    assert [row[2] for row in rows] == [model_name(entry["modelId"]) for entry in log_json]
    assert [row[3] for row in rows] == [
        rate_limit_type_label(entry["rateLimitType"]) for entry in log_json
    ]
    for row, entry in zip(rows, log_json, strict=True):
        description, last6 = keys[entry["apiKeyId"]]
        assert row[1] == f"{description} …{last6}"  # as every page names a key


@pytest.mark.parametrize("field", ["key", "model", "type"])
def test_the_log_filters_by_key_model_and_type(finance_client, log_json, field):
    api_field = {"key": "apiKeyId", "model": "modelId", "type": "rateLimitType"}[field]
    value = log_json[3][api_field]
    rows = _log_rows(_page(finance_client, **{field: value}))
    expected = [entry for entry in log_json if entry[api_field] == value]
    assert len(rows) == len(expected) < len(log_json)
    shown = {"model": model_name(value), "type": rate_limit_type_label(value)}.get(field)
    if shown is not None:
        assert {row[{"model": 2, "type": 3}[field]] for row in rows} == {shown}
    assert f'<option value="{value}" selected>' in _page(finance_client, **{field: value})


def test_filters_combine(finance_client, log_json):
    key, kind = log_json[0]["apiKeyId"], log_json[0]["rateLimitType"]
    rows = _log_rows(_page(finance_client, key=key, type=kind))
    expected = [e for e in log_json if e["apiKeyId"] == key and e["rateLimitType"] == kind]
    assert len(rows) == len(expected) >= 1


def test_a_filter_matching_nothing_says_so(finance_client):
    page = _page(finance_client, model="no-such-model")
    assert "No violation matches these filters." in page


def test_a_failed_limits_call_leaves_the_log(finance_client, sandbox, no_backoff):
    sandbox.faults.inject("/api_keys/rate_limits", status=503)
    page = _page(finance_client)
    assert UNAVAILABLE in page.split('id="limits-log"')[0]
    assert "table--limits" not in page
    assert len(_log_rows(page)) == 50


def test_a_failed_log_leaves_the_limits(finance_client, sandbox, no_backoff):
    sandbox.faults.inject("/api_keys/rate_limits/log", status=503)
    page = _page(finance_client)
    assert UNAVAILABLE in page.split('id="limits-log"')[1]
    assert len(_limit_rows(page)) > 0


def test_without_the_key_list_the_log_shows_key_ids(finance_client, sandbox, log_json, no_backoff):
    sandbox.faults.inject("/api_keys", status=503)
    rows = _log_rows(_page(finance_client))
    assert [row[1] for row in rows] == [entry["apiKeyId"] for entry in log_json]


def _limits(*models: tuple[str, dict]) -> RateLimits:
    return RateLimits(
        access_permitted=True,
        tier_id="paid",
        tier_is_charged=True,
        balance_usd=None,
        balance_diem=None,
        key_expiration=None,
        next_epoch_begins=None,
        models=tuple(
            ModelRateLimit(model_id=name, limits={k: Decimal(v) for k, v in limits.items()})
            for name, limits in models
        ),
    )


def test_rows_sort_by_value_then_name_with_missing_values_last():
    limits = _limits(
        ("b-model", {"RPM": 20, "TPM": 100}),
        ("a-model", {"RPM": 20}),
        ("c-model", {"RPM": 50, "TPM": 5}),
    )
    assert [r.model_id for r in model_limit_rows(limits, sort="rpm")] == [
        "a-model",
        "b-model",
        "c-model",
    ]
    assert [r.model_id for r in model_limit_rows(limits, sort="-rpm")] == [
        "c-model",
        "b-model",
        "a-model",
    ]
    assert [r.model_id for r in model_limit_rows(limits, sort="tpm")] == [
        "c-model",
        "b-model",
        "a-model",
    ]
    assert [r.model_id for r in model_limit_rows(limits, sort="-tpm")][-1] == "a-model"


def test_an_unknown_type_is_ignored_while_the_other_filters_apply(finance_client, log_json):
    model = log_json[0]["modelId"]
    rows = _log_rows(_page(finance_client, model=model, type="NOT_A_TYPE", sort="-rpm"))
    assert len(rows) == len([e for e in log_json if e["modelId"] == model])
