"""Cost allocation: /billing/allocation/ (a period's spend by team and key, the check against
the account's total, budget against actual) and /billing/allocation.csv (`?format=focus` for
FOCUS). Finance and Administrators (Ability.VIEW_BILLING)."""

from django.http import QueryDict
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.access import ability_required
from accounts.forms import BillingPeriodForm, SpendExportForm
from accounts.forms.billing import MonthForm
from accounts.roles import Ability
from accounts.services.allocation import allocation_get
from accounts.services.audit import audit_context_from_request
from accounts.services.billing_periods import PRESETS, venice_today
from accounts.services.exports import allocation_export
from accounts.venice import VeniceError, get_client
from accounts.views.billing import _csv_response

FOCUS = "focus"


def _query(request, today) -> QueryDict:
    """The request's query, with `month=YYYY-MM` turned into that month's days."""
    data = request.GET.copy()
    month = MonthForm(request.GET, today=today)
    days = month.as_range()
    if days:
        data.pop("period", None)
        data.update(days)
    return data


@require_GET
@ability_required(Ability.VIEW_BILLING)
def allocation(request):
    today = venice_today()
    form = BillingPeriodForm(_query(request, today), today=today)
    context = {
        "form": form,
        "month_form": MonthForm(request.GET, today=today),
        "presets": PRESETS,
    }
    if form.is_valid():
        period = form.to_period()
        if not period.is_custom:
            context["form"] = BillingPeriodForm(initial=period.as_query(), today=today)
        context.update(period=period, days_query=urlencode(period.as_query()))
        try:
            context["allocation"] = allocation_get(period=period, now=get_client().now())
        except VeniceError as error:
            context["error"] = error.user_message
    return render(request, "billing/allocation.html", context)


@require_GET
@ability_required(Ability.VIEW_BILLING)
def allocation_csv(request):
    """The chargeback file of the days asked for (this month by default); FOCUS with
    `format=focus`. Audited as an export; streamed one day at a time."""
    today = venice_today()
    form = SpendExportForm(_query(request, today), today=today)
    context = {"form": BillingPeriodForm(request.GET, today=today), "presets": PRESETS}
    if not form.is_valid():
        context["form"] = BillingPeriodForm(_query(request, today), today=today)
        context["form"].is_valid()
        context["month_form"] = MonthForm(request.GET, today=today)
        return render(request, "billing/allocation.html", context, status=400)
    first, last = form.days()
    try:
        export = allocation_export(
            context=audit_context_from_request(request),
            first=first,
            last=last,
            today=today,
            focus=request.GET.get("format") == FOCUS,
        )
    except VeniceError as error:
        context["error"] = error.user_message
        return render(request, "billing/allocation.html", context, status=502)
    return _csv_response(export)
