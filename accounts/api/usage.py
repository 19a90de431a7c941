"""/api/v1/usage: what Billing and Usage history show, for scripts. Days are Venice's (UTC);
USD and DIEM are kept apart, as everywhere in the portal."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema

from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError, check_form
from accounts.api.keys import ERRORS
from accounts.forms import BillingPeriodForm, UsageHistoryFilterForm
from accounts.roles import Ability
from accounts.services.billing import billing_analytics_get
from accounts.services.billing_periods import venice_today
from accounts.services.exports import usage_history_export
from accounts.services.usage_csv import FORMATS, READABLE
from accounts.services.usage_history import CursorRejectedError, usage_history_page_get

router = Router(tags=["usage"])

Preset = Literal[
    "today",
    "yesterday",
    "this-month",
    "last-month",
    "last-7-days",
    "last-30-days",
    "last-90-days",
]


class PeriodQuery(Schema):
    period: Preset | None = None
    start: date | None = None
    end: date | None = None


class Spend(Schema):
    usd: Decimal
    diem: Decimal


class ModelSpend(Spend):
    model: str
    units: Decimal
    unit_type: str


class KeySpend(Spend):
    key_id: str | None  # null: the web app (no key)
    description: str


class Summary(Schema):
    start: date
    end: date
    total: Spend
    by_model: list[ModelSpend]
    by_key: list[KeySpend]


@router.get("/usage/summary", response={200: Summary, **ERRORS})
def usage_summary(request, query: Query[PeriodQuery]):
    """A period's spend (a preset, or `start` and `end`, both included; this month by
    default): the total, by model and by key, each currency on its own."""
    require(request, Ability.VIEW_BILLING)
    form = BillingPeriodForm(query.dict(exclude_none=True), today=venice_today())
    check_form(form)
    period = form.to_period()
    analytics = billing_analytics_get(period)
    return {
        "start": period.start,
        "end": period.end,
        "total": {"usd": analytics.total_usd, "diem": analytics.total_diem},
        "by_model": [
            {
                "model": model.model_name,
                "units": model.total_units,
                "unit_type": model.unit_type,
                "usd": model.total_usd,
                "diem": model.total_diem,
            }
            for model in analytics.by_model
        ],
        "by_key": [
            {
                "key_id": key.api_key_id,
                "description": key.description,
                "usd": key.total_usd,
                "diem": key.total_diem,
            }
            for key in analytics.by_key
        ],
    }


class HistoryQuery(Schema):
    start: date | None = None
    end: date | None = None
    currency: Literal["USD", "DIEM", "BUNDLED_CREDITS"] | None = None
    model: str | None = None
    cursor: str | None = None


class LedgerEntry(Schema):
    timestamp: datetime
    sku: str
    model: str
    kind: str
    units: Decimal
    unit: str
    cost: Decimal
    currency: str
    request_id: str


class History(Schema):
    entries: list[LedgerEntry]
    next_cursor: str | None


@router.get("/usage/history", response={200: History, **ERRORS})
def usage_history(request, query: Query[HistoryQuery]):
    """Venice's ledger, oldest first, a page at a time: pass `next_cursor` back as `cursor`
    (alone: it carries the filters) until it is null. Venice's current day by default."""
    require(request, Ability.VIEW_BILLING)
    try:
        if query.cursor:
            page = usage_history_page_get(cursor=query.cursor, model=query.model or "")
        else:
            page = usage_history_page_get(filters=_history_form(query).to_filters())
    except CursorRejectedError as error:
        message = error.user_message
        raise ApiError(422, "invalid", message, fields={"cursor": [message]}) from None
    return {
        "entries": [
            {
                "timestamp": row.timestamp,
                "sku": row.sku,
                "model": row.model_id,
                "kind": row.kind,
                "units": row.units,
                "unit": row.unit,
                "cost": row.cost,
                "currency": row.currency,
                "request_id": row.request_id,
            }
            for row in page.rows
        ],
        "next_cursor": page.next_cursor,
    }


class CsvQuery(HistoryQuery):
    format: Literal["readable", "venice"] = "readable"


@router.get(
    "/usage.csv",
    response={200: str, **ERRORS},
    openapi_extra={"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def usage_csv(request, query: Query[CsvQuery]):
    """The ledger as the Usage history page's Download gives it (streamed; audited)."""
    require(request, Ability.VIEW_BILLING)
    today = venice_today()
    export = usage_history_export(
        context=audit_context(request),
        filters=_history_form(query).to_filters(),
        today=today,
        file_format=query.format if query.format in FORMATS else READABLE,
    )
    response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _history_form(query: HistoryQuery) -> UsageHistoryFilterForm:
    today = venice_today()
    data = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in query.dict(exclude_none=True).items()
        if name in ("start", "end", "currency", "model")
    }
    if "start" not in data and "end" not in data:
        data.update(UsageHistoryFilterForm.defaults(today))
    form = UsageHistoryFilterForm(data, today=today)
    check_form(form)
    return form
