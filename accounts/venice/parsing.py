"""JSON in, typed values out (and the few values we send, out to JSON).

Every parser takes a decoded body (floats already `Decimal`, see `transport.decode_json`) and
either returns the dataclass or raises `ResponseFormatError` naming the field that is wrong.
Unknown fields are ignored, so Venice may add fields without breaking the portal; a missing
required field, a wrong type or an unknown enum value is an error, because the portal decides
things (admin or not, which limit) from these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from accounts.venice.types import (
    APIKey,
    APIKeyType,
    Balance,
    ConsumptionLimits,
    Currency,
    DailySeries,
    DailyUsage,
    KeyUsage,
    LimitPeriod,
    ModelPrivacy,
    ModelRateLimit,
    ModelUsage,
    RateLimitLog,
    RateLimits,
    RateLimitType,
    UsageAmounts,
    UsageAnalytics,
    UsageBreakdown,
    UsageEntry,
    UsagePage,
)

E = TypeVar("E", bound=Enum)


class ResponseFormatError(ValueError):
    """A body that is not what the spec promises; the transport turns it into
    `InvalidResponseError("Invalid response format ...")` naming the endpoint."""


_MISSING = object()


class _Obj:
    """A JSON object with the path it came from, so errors say exactly which field is wrong."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, Mapping):
            raise ResponseFormatError(f"{where} is not an object")
        self.data = data
        self.where = where

    def path(self, name: str) -> str:
        return f"{self.where}.{name}"

    def req(self, name: str) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            raise ResponseFormatError(f"missing field {self.path(name)}")
        return value

    def opt(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def obj(self, name: str, *, required: bool = True) -> _Obj | None:
        value = self.req(name) if required else self.opt(name)
        if value is None and not required:
            return None
        return _Obj(value, self.path(name))

    def objs(self, name: str, *, required: bool = True) -> list[_Obj]:
        value = self.req(name) if required else self.opt(name, [])
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise ResponseFormatError(f"{self.path(name)} is not a list")
        return [_Obj(item, f"{self.path(name)}[{index}]") for index, item in enumerate(value)]


# --- scalars ----------------------------------------------------------------------------------


def to_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ResponseFormatError(f"{where} is not a string")
    return value


def to_opt_str(value: Any, where: str) -> str | None:
    return None if value is None else to_str(value, where)


def to_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ResponseFormatError(f"{where} is not a boolean")
    return value


def to_decimal(value: Any, where: str) -> Decimal:
    # bool is an int: a true/false where a number belongs is a format error, not 1 or 0.
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        raise ResponseFormatError(f"{where} is not a number")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ResponseFormatError(f"{where} is not a number") from None
    if not number.is_finite():
        raise ResponseFormatError(f"{where} is not a finite number")
    return number


def to_opt_decimal(value: Any, where: str) -> Decimal | None:
    return None if value is None else to_decimal(value, where)


def to_opt_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResponseFormatError(f"{where} is not an integer")
    return value


def to_enum(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise ResponseFormatError(f"{where} has an unknown value {value!r}") from None


def to_datetime(value: Any, where: str) -> datetime:
    """ISO 8601 (with `Z` or an offset, or a bare date) to an aware UTC datetime."""
    text = to_str(value, where).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseFormatError(f"{where} is not an ISO 8601 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        # The API speaks UTC; a timestamp without an offset is UTC, not the server's local time.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_opt_datetime(value: Any, where: str) -> datetime | None:
    # An empty string is how some Venice responses say "no expiry".
    return None if value is None or value == "" else to_datetime(value, where)


def to_date(value: Any, where: str) -> date:
    """A `YYYY-MM-DD` string, an ISO timestamp, or epoch milliseconds (the chart series)."""
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        seconds = float(value)
        if abs(seconds) > 1e11:  # milliseconds, as the analytics' daily series send
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC).date()
    text = to_str(value, where).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return to_datetime(text, where).date()


# --- API keys ---------------------------------------------------------------------------------


def _limits(obj: _Obj | None) -> ConsumptionLimits:
    if obj is None:
        return ConsumptionLimits()
    return ConsumptionLimits(
        usd=to_opt_decimal(obj.opt("usd"), obj.path("usd")),
        diem=to_opt_decimal(obj.opt("diem"), obj.path("diem")),
    )


def _amounts(obj: _Obj | None) -> UsageAmounts | None:
    if obj is None:
        return None
    return UsageAmounts(
        usd=to_decimal(obj.req("usd"), obj.path("usd")),
        diem=to_decimal(obj.req("diem"), obj.path("diem")),
    )


def parse_api_key(obj: _Obj) -> APIKey:
    """One key as GET /api_keys, GET /api_keys/{id} and PATCH /api_keys return it."""
    usage = obj.obj("usage", required=False)
    trailing = usage.obj("trailingSevenDays", required=False) if usage else None
    return APIKey(
        id=to_str(obj.req("id"), obj.path("id")),
        description=to_opt_str(obj.opt("description"), obj.path("description")) or "",
        api_key_type=to_enum(APIKeyType, obj.req("apiKeyType"), obj.path("apiKeyType")),
        last6=to_str(obj.req("last6Chars"), obj.path("last6Chars")),
        created_at=to_opt_datetime(obj.req("createdAt"), obj.path("createdAt")),
        expires_at=to_opt_datetime(obj.req("expiresAt"), obj.path("expiresAt")),
        last_used_at=to_opt_datetime(obj.req("lastUsedAt"), obj.path("lastUsedAt")),
        consumption_limits=_limits(obj.obj("consumptionLimits")),
        limit_period=to_enum(LimitPeriod, obj.req("limitPeriod"), obj.path("limitPeriod")),
        model_privacy=to_enum(ModelPrivacy, obj.req("modelPrivacy"), obj.path("modelPrivacy")),
        trailing_seven_days=_amounts(trailing),
        current_period_usage=_amounts(obj.obj("currentPeriodUsage", required=False)),
    )


def parse_key_list(body: Any) -> list[APIKey]:
    return [parse_api_key(item) for item in _Obj(body, "body").objs("data")]


def parse_key_detail(body: Any) -> APIKey:
    return parse_api_key(_Obj(body, "body").obj("data"))


def parse_created_key(body: Any, *, sent_description: str) -> APIKey:
    """POST /api_keys: the new key with its one-time secret.

    The create response has no `last6Chars` and no `createdAt`, and names the limits
    `consumptionLimit` (singular, as the request does): `last6` is taken from the secret,
    and `created_at` is None unless Venice says.
    """
    data = _Obj(body, "body").obj("data")
    secret = to_str(data.req("apiKey"), data.path("apiKey"))
    if not secret:
        raise ResponseFormatError(f"{data.path('apiKey')} is empty")
    limits = data.obj("consumptionLimit", required=False) or data.obj(
        "consumptionLimits", required=False
    )
    return APIKey(
        id=to_str(data.req("id"), data.path("id")),
        description=to_opt_str(data.opt("description"), data.path("description"))
        or sent_description,
        api_key_type=to_enum(APIKeyType, data.req("apiKeyType"), data.path("apiKeyType")),
        last6=secret[-6:],
        created_at=to_opt_datetime(data.opt("createdAt"), data.path("createdAt")),
        expires_at=to_opt_datetime(data.req("expiresAt"), data.path("expiresAt")),
        last_used_at=None,
        consumption_limits=_limits(limits),
        limit_period=to_enum(LimitPeriod, data.req("limitPeriod"), data.path("limitPeriod")),
        model_privacy=to_enum(ModelPrivacy, data.req("modelPrivacy"), data.path("modelPrivacy")),
        secret=secret,
    )


def parse_delete(body: Any) -> bool:
    obj = _Obj(body, "body")
    return to_bool(obj.req("success"), obj.path("success"))


def parse_rate_limits(body: Any) -> RateLimits:
    data = _Obj(body, "body").obj("data")
    tier = data.obj("apiTier")
    balances = data.obj("balances")
    models = []
    for model in data.objs("rateLimits"):
        limits: dict[str, Decimal] = {}
        for limit in model.objs("rateLimits"):
            name = to_str(limit.req("type"), limit.path("type"))
            limits[name] = to_decimal(limit.req("amount"), limit.path("amount"))
        model_id = to_opt_str(model.opt("apiModelId"), model.path("apiModelId")) or ""
        models.append(ModelRateLimit(model_id=model_id, limits=limits))
    return RateLimits(
        access_permitted=to_bool(data.req("accessPermitted"), data.path("accessPermitted")),
        tier_id=to_str(tier.req("id"), tier.path("id")),
        tier_is_charged=to_bool(tier.req("isCharged"), tier.path("isCharged")),
        balance_usd=to_opt_decimal(balances.opt("USD"), balances.path("USD")),
        balance_diem=to_opt_decimal(balances.opt("DIEM"), balances.path("DIEM")),
        key_expiration=to_opt_datetime(data.req("keyExpiration"), data.path("keyExpiration")),
        next_epoch_begins=to_opt_datetime(
            data.req("nextEpochBegins"), data.path("nextEpochBegins")
        ),
        models=tuple(models),
    )


def parse_rate_limit_log(body: Any) -> list[RateLimitLog]:
    entries = []
    for item in _Obj(body, "body").objs("data"):
        entries.append(
            RateLimitLog(
                api_key_id=to_str(item.req("apiKeyId"), item.path("apiKeyId")),
                model_id=to_str(item.req("modelId"), item.path("modelId")),
                rate_limit_tier=to_str(item.req("rateLimitTier"), item.path("rateLimitTier")),
                rate_limit_type=to_enum(
                    RateLimitType, item.req("rateLimitType"), item.path("rateLimitType")
                ),
                timestamp=to_datetime(item.req("timestamp"), item.path("timestamp")),
            )
        )
    return entries


# --- billing ----------------------------------------------------------------------------------


def parse_balance(body: Any) -> Balance:
    obj = _Obj(body, "body")
    balances = obj.obj("balances")
    currency = obj.req("consumptionCurrency")
    return Balance(
        can_consume=to_bool(obj.req("canConsume"), obj.path("canConsume")),
        consumption_currency=None
        if currency is None
        else to_enum(Currency, currency, obj.path("consumptionCurrency")),
        usd=to_opt_decimal(balances.req("usd"), balances.path("usd")),
        diem=to_opt_decimal(balances.req("diem"), balances.path("diem")),
        diem_epoch_allocation=to_decimal(
            obj.req("diemEpochAllocation"), obj.path("diemEpochAllocation")
        ),
    )


def _series(items: list[_Obj]) -> tuple[DailySeries, ...]:
    series = []
    for item in items:
        values = {
            str(name): to_decimal(value, item.path(str(name)))
            for name, value in item.data.items()
            if name != "date"
        }
        series.append(DailySeries(date=to_date(item.req("date"), item.path("date")), values=values))
    return tuple(series)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ResponseFormatError(f"{where} is not a list")
    return tuple(to_str(item, f"{where}[{index}]") for index, item in enumerate(value))


def parse_model_usage(obj: _Obj) -> ModelUsage:
    breakdown = tuple(
        UsageBreakdown(
            type=to_str(part.req("type"), part.path("type")),
            usd=to_decimal(part.req("usd"), part.path("usd")),
            diem=to_decimal(part.req("diem"), part.path("diem")),
            units=to_decimal(part.req("units"), part.path("units")),
        )
        for part in obj.objs("breakdown", required=False)
    )
    return ModelUsage(
        model_name=to_str(obj.req("modelName"), obj.path("modelName")),
        unit_type=to_str(obj.req("unitType"), obj.path("unitType")),
        model_type=to_opt_str(obj.req("modelType"), obj.path("modelType")),
        total_usd=to_decimal(obj.req("totalUsd"), obj.path("totalUsd")),
        total_diem=to_decimal(obj.req("totalDiem"), obj.path("totalDiem")),
        total_units=to_decimal(obj.req("totalUnits"), obj.path("totalUnits")),
        breakdown=breakdown,
    )


def parse_usage_analytics(body: Any) -> UsageAnalytics:
    obj = _Obj(body, "body")
    return UsageAnalytics(
        lookback=to_str(obj.req("lookback"), obj.path("lookback")),
        by_date=tuple(
            DailyUsage(
                date=to_date(day.req("date"), day.path("date")),
                usd=to_decimal(day.req("USD"), day.path("USD")),
                diem=to_decimal(day.req("DIEM"), day.path("DIEM")),
            )
            for day in obj.objs("byDate")
        ),
        by_model=tuple(parse_model_usage(model) for model in obj.objs("byModel")),
        by_model_daily=_series(obj.objs("byModelDaily")),
        top_models=_strings(obj.req("topModels"), obj.path("topModels")),
        by_key=tuple(
            KeyUsage(
                api_key_id=to_opt_str(key.req("apiKeyId"), key.path("apiKeyId")),
                description=to_str(key.req("description"), key.path("description")),
                total_usd=to_decimal(key.req("totalUsd"), key.path("totalUsd")),
                total_diem=to_decimal(key.req("totalDiem"), key.path("totalDiem")),
                total_units=to_decimal(key.req("totalUnits"), key.path("totalUnits")),
            )
            for key in obj.objs("byKey")
        ),
        by_key_daily=_series(obj.objs("byKeyDaily")),
        top_key_names=_strings(obj.req("topKeyNames"), obj.path("topKeyNames")),
    )


def parse_usage_entry(obj: _Obj) -> UsageEntry:
    details = obj.obj("inferenceDetails", required=False)
    return UsageEntry(
        timestamp=to_datetime(obj.req("timestamp"), obj.path("timestamp")),
        sku=to_str(obj.req("sku"), obj.path("sku")),
        notes=to_str(obj.req("notes"), obj.path("notes")),
        units=to_decimal(obj.req("units"), obj.path("units")),
        price_per_unit_usd=to_decimal(obj.req("pricePerUnitUsd"), obj.path("pricePerUnitUsd")),
        amount=to_decimal(obj.req("amount"), obj.path("amount")),
        currency=to_enum(Currency, obj.req("currency"), obj.path("currency")),
        prompt_tokens=to_opt_int(details.opt("promptTokens"), details.path("promptTokens"))
        if details
        else None,
        completion_tokens=to_opt_int(
            details.opt("completionTokens"), details.path("completionTokens")
        )
        if details
        else None,
        inference_execution_ms=to_opt_int(
            details.opt("inferenceExecutionTime"), details.path("inferenceExecutionTime")
        )
        if details
        else None,
        request_id=to_opt_str(details.opt("requestId"), details.path("requestId"))
        if details
        else None,
    )


def parse_usage_page(body: Any) -> UsagePage:
    obj = _Obj(body, "body")
    cursor = to_opt_str(obj.req("nextCursor"), obj.path("nextCursor"))
    return UsagePage(
        entries=tuple(parse_usage_entry(item) for item in obj.objs("data")),
        next_cursor=cursor or None,
    )


# --- what we send -----------------------------------------------------------------------------


def format_expires_at(value: datetime | date) -> str:
    """A date as `YYYY-MM-DD`; a datetime as `YYYY-MM-DDTHH:MM:SS.sssZ` in UTC (the spec's
    two patterns). Naive datetimes are refused: which day a key dies must not depend on the
    server's time zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware (or a date)")
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"expires_at must be a date or datetime, not {type(value).__name__}")


def format_timestamp(value: datetime) -> str:
    """Usage-history bounds: ISO 8601 UTC with a `Z` suffix."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("usage-history bounds must be timezone-aware datetimes")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def json_number(value: Decimal | int | float) -> int | float:
    """A Decimal as a JSON number: integral values as ints, others as the nearest float
    (limits are dollars and cents, far inside a float's 15 exact digits)."""
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"a limit must be a finite number >= 0, not {value}")
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def format_limits(limits: ConsumptionLimits) -> dict[str, int | float | None]:
    """`consumptionLimit` for POST and PATCH: None clears that currency's cap."""
    return {
        "usd": None if limits.usd is None else json_number(limits.usd),
        "diem": None if limits.diem is None else json_number(limits.diem),
    }
