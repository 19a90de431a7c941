"""Billing pages: the analytics of a period, the usage history, and the usage files."""

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.access import ability_required
from accounts.forms import BillingPeriodForm, SpendExportForm, UsageHistoryFilterForm
from accounts.presentation.names import key_label
from accounts.roles import Ability
from accounts.services.audit import audit_context_from_request
from accounts.services.billing import (
    BREAKDOWN_MAX_DAYS,
    CURRENCIES,
    billing_overview_get,
    key_spend_by_day,
    key_spend_recent,
)
from accounts.services.billing_periods import PRESETS, venice_today
from accounts.services.exports import daily_spend_export, usage_history_export
from accounts.services.usage_csv import FORMATS, READABLE, SPEND_BY_KEY, SPEND_BY_MODEL
from accounts.services.usage_history import CursorRejectedError, usage_history_page_get
from accounts.venice import VeniceError, get_client


@require_GET
@ability_required(Ability.VIEW_BILLING)
def overview(request):
    today = venice_today()
    form = BillingPeriodForm(request.GET, today=today)
    context = {"form": form, "presets": PRESETS, "currencies": CURRENCIES}
    if form.is_valid():
        period = form.to_period()
        currency = form.cleaned_data["currency"]
        breakdown = form.cleaned_data["breakdown"] or None
        # The period's own query, which every link on the page keeps (and hands on to Usage
        # history and the exports); `selection` adds the currency and breakdown chosen.
        days = period.as_query() if period.is_custom else {"period": period.preset}
        if not period.is_custom:
            # The range boxes show the preset's days, ready to adjust.
            context["form"] = BillingPeriodForm(initial=period.as_query(), today=today)
        context.update(
            period=period,
            currency=currency,
            breakdown=breakdown,
            breakdown_max_days=BREAKDOWN_MAX_DAYS,
            period_query=urlencode(days),
            days_query=urlencode(period.as_query()),
            selection_query=urlencode({**days, "currency": currency}),
        )
        try:
            context["overview"] = billing_overview_get(
                period=period, currency=currency, breakdown=breakdown
            )
        except VeniceError as error:
            context["error"] = error.user_message
    if request.htmx and request.GET.get("breakdown"):
        return render(request, "billing/overview.html#breakdown", context)
    return render(request, "billing/overview.html", context)


def _key_choices() -> list[tuple[str, str]]:
    """The keys the usage filter offers; without Venice's key list, none (the rest works)."""
    try:
        keys = get_client().api_keys.list()
    except VeniceError:
        return []
    return sorted(
        ((key.id, key_label(key.description, key.last6)) for key in keys),
        key=lambda pair: pair[1].lower(),
    )


def _history_form(request, today) -> UsageHistoryFilterForm:
    """The filters asked for; with no dates in the query at all, Venice's current day."""
    data = request.GET.copy()
    if "start" not in data and "end" not in data:
        data.update(UsageHistoryFilterForm.defaults(today))
    return UsageHistoryFilterForm(data, today=today, keys=_key_choices())


@require_GET
@ability_required(Ability.VIEW_BILLING)
def usage(request):
    today = venice_today()
    # A cursor carries Venice's filters: with one, only the model (ours, matched on the SKU)
    # is read from the query, and nothing but the cursor is sent on.
    cursor = request.GET.get("cursor") or None
    model = request.GET.get("model", "") if cursor else ""
    form = None if cursor else _history_form(request, today)
    context = {"form": form, "cursor": cursor, "model": model}
    if cursor or form.is_valid():
        filters = None if cursor else form.to_filters()
        key_id = None if cursor else form.key_id
        if filters is not None:
            context["filters"] = filters
            context["filter_query"] = urlencode(
                {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            )
        try:
            if key_id is not None:
                context["key_label"] = dict(form.fields["key"].choices)[form.cleaned_data["key"]]
                context["key_days"] = key_spend_by_day(key_id=key_id, days=filters.days())
            else:
                context["page"] = usage_history_page_get(
                    filters=filters, cursor=cursor, model=model
                )
        except CursorRejectedError as error:
            context["cursor_rejected"] = error.user_message
        except VeniceError as error:
            context["error"] = error.user_message
    template = "billing/usage.html#rows" if request.htmx and cursor else "billing/usage.html"
    return render(request, template, context)


def _csv_response(export) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@ability_required(Ability.VIEW_BILLING)
def usage_csv(request):
    """The ledger for exactly what the filter form holds (the Download button submits it),
    readable by default, `format=venice` for Venice's own columns."""
    today = venice_today()
    form = _history_form(request, today)
    context = {"form": form}
    if not form.is_valid():
        return render(request, "billing/usage.html", context, status=400)
    file_format = request.GET.get("format", READABLE)
    try:
        export = usage_history_export(
            context=audit_context_from_request(request),
            filters=form.to_filters(),
            today=today,
            file_format=file_format if file_format in FORMATS else READABLE,
        )
    except VeniceError as error:
        # Nothing was sent yet: say why on the page instead of handing over a broken file.
        context["error"] = error.user_message
        return render(request, "billing/usage.html", context, status=502)
    return _csv_response(export)


def _daily_spend_csv(request, file):
    today = venice_today()
    form = SpendExportForm(request.GET, today=today)
    if not form.is_valid():
        context = {"form": BillingPeriodForm(request.GET, today=today), "presets": PRESETS}
        context["form"].is_valid()
        return render(request, "billing/overview.html", context, status=400)
    first, last = form.days()
    try:
        export = daily_spend_export(
            context=audit_context_from_request(request),
            file=file,
            first=first,
            last=last,
            today=today,
        )
    except VeniceError as error:
        context = {"form": BillingPeriodForm(request.GET, today=today), "presets": PRESETS}
        context["form"].is_valid()
        context["error"] = error.user_message
        return render(request, "billing/overview.html", context, status=502)
    return _csv_response(export)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def spend_by_key_csv(request):
    """Every key's (and the web app's) USD and DIEM per day: one analytics call per day."""
    return _daily_spend_csv(request, SPEND_BY_KEY)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def spend_by_model_csv(request):
    """Every model's units, USD and DIEM per day: one analytics call per day."""
    return _daily_spend_csv(request, SPEND_BY_MODEL)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def key_spend(request, key_id: str):
    """A key's last 30 days of spend: the key page loads it as a fragment (30 analytics calls,
    so not on the page's own time); without HTMX, a page of its own."""
    context = {"key_id": key_id}
    try:
        context["spend"] = key_spend_recent(key_id=key_id, today=venice_today())
    except VeniceError as error:
        context["error"] = error.user_message
    template = "keys/spend.html#spend" if request.htmx else "keys/spend.html"
    return render(request, template, context)
