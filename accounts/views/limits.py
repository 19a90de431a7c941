"""The rate-limit page: tier, access, per-model limits (sortable) and the violation log."""

from django.http import QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import ability_required
from accounts.forms import LimitsForm
from accounts.roles import Ability
from accounts.services.limits import DEFAULT_SORT, LogFilters, limits_overview_get
from accounts.venice import RateLimitType


@require_GET
@ability_required(Ability.VIEW_LIMITS)
def overview(request):
    form = LimitsForm(request.GET)
    form.is_valid()  # a value that does not validate is left out; the others still apply
    data = form.cleaned_data
    sort = data.get("sort") or DEFAULT_SORT
    filters = LogFilters(
        key=data.get("key", ""), model=data.get("model", ""), type=data.get("type", "")
    )
    overview = limits_overview_get(sort=sort, filters=filters)
    context = {
        "form": form,
        "overview": overview,
        "filters": filters,
        "sort_headers": _sort_headers(request.GET, sort, overview.columns),
        "limit_types": [t.value for t in RateLimitType],
    }
    return render(request, "limits/overview.html", context)


def _sort_headers(query: QueryDict, sort: str, columns) -> list[dict]:
    """Each column's heading with the link that sorts by it (again: the other way), keeping
    the log's filters; `aria-sort` tells screen readers the current order."""
    headers = []
    for name, heading, short in [("model", "Model", "Model"), *columns]:
        current = sort.lstrip("-") == name
        descending = sort.startswith("-")
        params = query.copy()
        params["sort"] = f"-{name}" if current and not descending else name
        headers.append(
            {
                "name": name,
                "heading": heading,
                "short": short,
                "url": f"?{params.urlencode()}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "numeric": name != "model",
            }
        )
    return headers
