"""The audit log: filtered, keyset-paged records as sentences, one record's details (its codes),
and the exports: CSV for people, JSON Lines for machines that check the chain."""

import json

from django.contrib.auth import get_user_model
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.access import ability_required
from accounts.forms import AuditFilterForm
from accounts.forms.teams import AdoptForm
from accounts.models import AuditEvent
from accounts.presentation.audit import audit_entries, audit_sentence, rotation_of
from accounts.presentation.links import url_maker
from accounts.roles import Ability
from accounts.selectors.audit import audit_drift, audit_page
from accounts.selectors.rotation import rotations_by_id
from accounts.services.audit import audit_context_from_request
from accounts.services.exports import (
    audit_export_csv,
    audit_export_filename,
    audit_export_jsonl,
)
from accounts.venice import VeniceError


@require_GET
@ability_required(Ability.VIEW_AUDIT)
def audit_list(request):
    form = AuditFilterForm(request.GET)
    context = {"form": form, "page": None, "query": ""}
    before = None
    if form.is_valid():
        filters = form.filters()
        before = form.cleaned_data["before"]
        page = audit_page(filters, before=before)
        rotations = rotations_by_id(filter(None, (rotation_of(e) for e in page.events)))
        query = urlencode(filters.as_dict(), doseq=True)
        context.update(
            page=page,
            rows=audit_entries(page.events, rotations, detail_url=url_maker("audit:detail")),
            query=query,
            filtered=bool(query),
            first_page=before is None,
            key_search=form.key_search(),
        )
        if page.next_cursor is not None:
            older = {**filters.as_dict(), "before": page.next_cursor.encode()}
            context["older_query"] = urlencode(older, doseq=True)

    if request.htmx:
        # "Older →" asks for the next rows only; the filter form swaps form and results.
        template = "audit/list.html#rows" if before else "audit/list.html#results"
        return render(request, template, context)

    context["actors"] = (
        get_user_model().objects.order_by("username").values_list("username", flat=True)[:200]
    )
    if before is None:
        # Drift needs the upstream key list; if Venice fails, only this panel says so.
        try:
            context["drift"] = audit_drift()
        except VeniceError as error:
            context["drift_error"] = error.user_message
        context["adopt_form"] = AdoptForm()
    return render(request, "audit/list.html", context)


def _raw(value) -> str:
    """A stored value exactly as the record holds it (JSON: null, not None)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@require_GET
@ability_required(Ability.VIEW_AUDIT)
def audit_detail(request, event_id: int):
    event = get_object_or_404(AuditEvent, pk=event_id)
    changes = [
        {"field": name, "before": _raw(values[0]), "after": _raw(values[1])}
        if isinstance(values, list | tuple) and len(values) == 2
        else {"field": name, "before": "", "after": _raw(values)}
        for name, values in sorted(event.changes.items())
    ]
    context = {
        "event": event,
        "sentence": audit_sentence(event),
        "changes": changes,
        "details": [(name, _raw(value)) for name, value in sorted(event.details.items())],
        "hash_matches": event.is_finished and event.hash == event.compute_hash(),
    }
    return render(request, "audit/detail.html", context)


@require_GET
@ability_required(Ability.VIEW_AUDIT)
def audit_csv(request):
    """The records for exactly what the filter form holds (its Download button submits it),
    named after the days it covers."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "page": None, "query": ""}
        return render(request, "audit/list.html", context, status=400)
    filters = form.filters()
    lines = audit_export_csv(
        audit_context_from_request(request), filters=filters, zone=timezone.get_current_timezone()
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = audit_export_filename(filters, today=timezone.now().date())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@ability_required(Ability.VIEW_AUDIT)
def audit_jsonl(request):
    """The hash chain after `?after=SEQUENCE` (default: from the first record) as JSON Lines.
    The head it ends at is in the X-Audit-Head-Sequence and X-Audit-Head-Hash headers; check
    the file with tools/verify_audit_export.py (docs/audit-format.md)."""
    raw = request.GET.get("after", "") or "0"
    if not raw.isdigit():
        return HttpResponseBadRequest("after must be a sequence number (0 or more).")
    export = audit_export_jsonl(audit_context_from_request(request), after=int(raw))
    response = StreamingHttpResponse(export.lines, content_type="application/jsonl")
    name = f"audit-{export.after + 1}-{export.head_sequence}.jsonl"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    response["X-Audit-After-Sequence"] = str(export.after)
    response["X-Audit-Previous-Hash"] = export.previous_hash
    response["X-Audit-Head-Sequence"] = str(export.head_sequence)
    response["X-Audit-Head-Hash"] = export.head_hash
    return response
