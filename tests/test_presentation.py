"""accounts/presentation/: one name per thing, one format per currency, one per kind of date."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.presentation import dates, names, numbers
from accounts.sandbox.catalog import MODELS, SKUS
from accounts.venice import Currency, LimitPeriod, ModelPrivacy, RateLimitType

D = Decimal


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", SKUS, ids=lambda sku: sku.name)
def test_every_ledger_sku_names_its_model_as_the_analytics_do(sku):
    model = next(m for m in MODELS if m.id == sku.model_id)
    info = names.sku_info(sku.name)
    assert info.model_id == model.id
    assert info.model_name == model.name  # what /billing/usage-analytics calls it
    assert info.unit.name == model.unit_type


def test_a_sku_says_what_it_charges_for_and_in_which_unit():
    info = names.sku_info("zai-org-glm-5-1-llm-cache-read-mtoken")
    assert (info.model_name, info.kind, info.unit.name) == ("GLM 5.1", "Cache read", "tokens")
    assert info.unit.per_ledger_unit == 1_000_000  # the ledger counts millions of tokens


def test_an_unknown_sku_keeps_its_text_and_an_unknown_model_its_id():
    assert names.sku_info("mystery").model_name == "mystery"
    assert names.sku_info("mystery").kind == ""
    info = names.sku_info("new-model-9-llm-output-mtoken")
    assert (info.model_id, info.model_name, info.kind) == ("new-model-9", "new-model-9", "Output")


def test_a_key_is_named_by_its_description_and_last_six():
    assert names.key_label("Production backend", "F80ymm") == "Production backend …F80ymm"
    assert names.key_label("", "F80ymm") == "(no description) …F80ymm"


@pytest.mark.parametrize(
    ("enum", "label"),
    [
        (LimitPeriod, names.limit_period_label),
        (ModelPrivacy, names.model_privacy_label),
        (Currency, names.currency_label),
        (RateLimitType, names.rate_limit_type_label),
    ],
)
def test_every_venice_enum_value_has_a_name_for_people(enum, label):
    # USD and DIEM are their own names; every other code (MONTH, PRIVATE_ONLY, ...) is not.
    own_names = {"USD", "DIEM", "VCU"}  # VCU: deprecated, only ever a balance's currency
    for value in enum:
        assert label(value)
        if value.value not in own_names:
            assert label(value) != value.value


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D("1234.567"), "$1,234.57"),
        (D("0"), "$0.00"),
        (D("0.004"), "<$0.01"),
        (D("-2"), "−$2.00"),
        (None, "—"),
    ],
)
def test_usd_is_dollars_and_cents(value, shown):
    assert numbers.usd(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(D("6.4915"), "6.49 DIEM"), (D("0"), "0.00 DIEM"), (D("0.0001"), "<0.01 DIEM")],
)
def test_diem_has_the_same_two_decimals_and_its_name(value, shown):
    assert numbers.diem(value) == shown


def test_money_picks_the_currencys_format():
    assert numbers.money(D("1"), "USD") == "$1.00"
    assert numbers.money(D("1"), Currency.DIEM) == "1.00 DIEM"
    assert numbers.money(D("1"), "BUNDLED_CREDITS") == "$1.00 credits"


def test_exact_keeps_every_digit_venice_sent():
    assert numbers.exact(D("-0.04326525")) == "-0.04326525"
    assert numbers.exact(D("1.50000")) == "1.5"


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (D("135.71"), "tokens", "135.7 M tokens"),  # the analytics' "135.71 tokens"
        (D("0.32"), "chars", "320.0 k chars"),
        (D("0.000227"), "tokens", "227 tokens"),
        (D("41899"), "seconds", "41,899 seconds"),
        (D("3"), "images", "3 images"),
    ],
)
def test_units_are_shown_at_their_real_scale(value, unit, shown):
    assert numbers.units(value, unit) == shown


# --- dates -------------------------------------------------------------------------------------

MOMENT = datetime(2026, 12, 2, 4, 17, 5, tzinfo=UTC)


def test_tables_and_prose_each_have_one_format_in_utc_by_default():
    assert dates.table(MOMENT) == "2026-12-02 04:17"
    assert dates.table(MOMENT, seconds=True) == "2026-12-02 04:17:05"
    assert dates.prose(MOMENT) == "Dec 2, 2026, 04:17 UTC"
    assert dates.day_prose(date(2027, 1, 31)) == "Jan 31, 2027"
    assert dates.utc_exact(MOMENT) == "2026-12-02 04:17:05 UTC"


def test_times_follow_the_viewers_zone_and_name_it():
    with timezone.override(ZoneInfo("America/New_York")):
        assert dates.table(MOMENT) == "2026-12-01 23:17"
        assert dates.prose(MOMENT) == "Dec 1, 2026, 23:17 EST"
        assert dates.zone_name() == "America/New_York"
        assert dates.utc_exact(MOMENT) == "2026-12-02 04:17:05 UTC"  # the hover stays UTC


def test_ranges_read_as_prose():
    assert dates.range_prose(date(2026, 11, 1), date(2026, 11, 30)) == "Nov 1 – Nov 30, 2026"
    assert dates.range_prose(date(2026, 12, 15), date(2027, 1, 14)) == (
        "Dec 15, 2026 – Jan 14, 2027"
    )
    assert dates.range_prose(date(2026, 11, 3), date(2026, 11, 3)) == "Nov 3, 2026"
