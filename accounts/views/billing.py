"""Billing pages: usage analytics, the usage history walk, and its CSV export."""

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import ability_required
from accounts.forms import UsageHistoryFilterForm, UsagePeriodForm
from accounts.roles import Ability
from accounts.services.audit import audit_context_from_request
from accounts.services.billing import (
    PERIOD_CHOICES,
    CursorRejectedError,
    UsagePeriod,
    billing_overview_get,
    usage_history_page_get,
)
from accounts.services.exports import usage_history_export
from accounts.venice import VeniceError


@require_GET
@ability_required(Ability.VIEW_BILLING)
def overview(request):
    form = UsagePeriodForm(request.GET)
    context = {"form": form, "period_choices": PERIOD_CHOICES, "period": UsagePeriod()}
    if form.is_valid():
        context["period"] = period = form.to_period()
        try:
            context["overview"] = billing_overview_get(period=period)
        except VeniceError as error:
            context["error"] = error.user_message
    return render(request, "billing/overview.html", context)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def usage(request):
    # A cursor carries the walk's filters: with one, the query's filters are not read (and
    # never sent on: Venice rejects filters alongside a cursor).
    cursor = request.GET.get("cursor") or None
    form = UsageHistoryFilterForm(None if cursor else request.GET)
    context = {"form": form, "cursor": cursor}
    if cursor or form.is_valid():
        filters = None if cursor else form.to_filters()
        if filters and not filters.is_empty:
            context["filters_described"] = filters.describe()
            context["filter_query"] = request.GET.urlencode()
        try:
            context["page"] = usage_history_page_get(filters=filters, cursor=cursor)
        except CursorRejectedError as error:
            context["cursor_rejected"] = error.user_message
        except VeniceError as error:
            context["error"] = error.user_message
    template = "billing/usage.html#rows" if request.htmx and cursor else "billing/usage.html"
    return render(request, template, context)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def usage_csv(request):
    form = UsageHistoryFilterForm(request.GET)
    context = {"form": form}
    if not form.is_valid():
        return render(request, "billing/usage.html", context, status=400)
    try:
        export = usage_history_export(
            context=audit_context_from_request(request), filters=form.to_filters()
        )
    except VeniceError as error:
        # Nothing was sent yet: say why on the page instead of handing over a broken file.
        context["error"] = error.user_message
        return render(request, "billing/usage.html", context, status=502)
    response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
