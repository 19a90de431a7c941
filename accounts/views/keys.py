"""The API key pages: list, one key, new, edit, delete.

Each view checks the role, parses input, calls one selector or service, and renders; HTMX
requests get the page's fragment. Venice's failures arrive as `VeniceError` and are shown in
place with the user's input kept.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts.access import ability_required, refuse
from accounts.forms import KeyCreateForm, KeyDeleteForm, KeyEditForm, KeyFilterForm
from accounts.forms.teams import BulkAssignForm
from accounts.models import ChangeRequest
from accounts.presentation.key_table import key_table_rows
from accounts.roles import Ability
from accounts.selectors.audit import audit_events_for_key, audit_key_ids_with_lost_secret
from accounts.selectors.keys import (
    api_key_flags,
    api_key_get,
    api_key_list,
    api_key_usage_meters,
)
from accounts.selectors.rotation import (
    rotation_open_for,
    rotation_open_with_replacement,
    rotation_retired,
    rotation_schedule_for_key,
    rotations_for_key,
)
from accounts.services.audit import audit_context_from_request
from accounts.services.key_ownership import (
    KeyScopeRefused,
    OwnershipInvalid,
    may_change_key,
    ownership_of,
    scope_refusal,
)
from accounts.services.keys import (
    ADMIN_KEYS_REFUSED,
    KeyChangeRefused,
    api_key_create,
    api_key_delete,
    api_key_update,
    may_manage_key_type,
)
from accounts.services.policies import (
    ApprovalRequired,
    PolicyForbids,
    policies_in_force,
    policy_check_delete,
)
from accounts.services.rotation import may_rotate
from accounts.services.rotation_watch import rotation_observe
from accounts.venice import APIKey, APIKeyType, ValidationError, VeniceError
from accounts.views.approvals import approval_context, hold_for_approval

# Keys created from this session's create forms: {form token: key id}. A second POST of the
# same form (a reload of the page that showed the secret, a double click) lands on the key
# page instead of creating another key. Ids only; never the secret.
_CREATED_SESSION_KEY = "keys_created_by_form"
_CREATED_REMEMBERED = 20


def _fragment(request) -> bool:
    """An HTMX swap wants the fragment; a history restore or boosted load wants the page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


@ability_required(Ability.VIEW_KEYS)
@require_GET
@vary_on_headers("HX-Request")
def key_list(request):
    form = KeyFilterForm(request.GET)
    query = form.query()
    listing, error = None, None
    try:
        listing = api_key_list(query=query)
    except VeniceError as exc:
        error = exc
    rows = key_table_rows(listing) if listing is not None else []
    may_assign = request.user.has_perm(Ability.ASSIGN_KEYS.permission)
    context = {
        "form": form,
        "listing": listing,
        "rows": rows,
        "groups": _grouped(rows, form.cleaned_data.get("group", "")),
        "error": error,
        "may_create": request.user.has_perm(Ability.MANAGE_INFERENCE_KEYS.permission),
        "may_assign": may_assign,
        "assign_form": BulkAssignForm(user=request.user, key_choices=()) if may_assign else None,
        "sort_headers": _sort_headers(request, query),
    }
    template = "keys/list.html#rows" if _fragment(request) else "keys/list.html"
    return render(request, template, context)


def _grouped(rows: list[dict], by: str) -> list[tuple[str, list[dict]]]:
    """The rows under one heading per team (or owner), in name order, the ones with none last;
    without grouping, one group with no heading."""
    if by not in ("team", "owner"):
        return [("", rows)]
    none = "No team" if by == "team" else "No owner"
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[by] or none, []).append(row)
    return sorted(groups.items(), key=lambda item: (item[0] == none, item[0].casefold()))


# Sortable columns, and the direction a first click sorts them in.
_SORTABLE = {"created": "-created", "last_used": "-last_used", "expires": "expires"}


def _sort_headers(request, query) -> dict:
    """For each sortable column: the link that sorts by it (or flips it) and its aria-sort."""
    headers = {}
    for column, first in _SORTABLE.items():
        params = request.GET.copy()
        if query.sort == column:
            params["sort"] = column if query.descending else f"-{column}"
            aria_sort = "descending" if query.descending else "ascending"
        else:
            params["sort"] = first
            aria_sort = None
        headers[column] = {"url": f"?{params.urlencode()}", "aria_sort": aria_sort}
    return headers


@ability_required(Ability.VIEW_KEYS)
@require_GET
def key_detail(request, key_id: str):
    key, error = _fetch(key_id)
    if error is not None:
        return _upstream_error_page(request, error)
    if key is None:
        return _not_found(request, key_id)
    context = {
        "key": key,
        "flags": api_key_flags(
            key, now=timezone.now(), secret_lost=bool(audit_key_ids_with_lost_secret([key.id]))
        ),
        "meters": api_key_usage_meters(key),
        "audit_events": audit_events_for_key(key.id),
        "may_manage": may_manage_key_type(request.user, key.api_key_type)
        and may_change_key(request.user, key.id),
        "ownership": ownership_of(key.id),
        "may_assign": request.user.has_perm(Ability.ASSIGN_KEYS.permission)
        and may_change_key(request.user, key.id),
        "may_see_spend": request.user.has_perm(Ability.VIEW_BILLING.permission),
        # The rotation feature's part of the page (templates/keys/_rotations.html).
        "rotations": rotations_for_key(key_id=key.id),
        "open_rotation": rotation_open_for(key_id=key.id),
        "schedule": rotation_schedule_for_key(key_id=key.id),
        "may_rotate": may_rotate(request.user, key.api_key_type),
    }
    context.update(_traffic_panel(context["open_rotation"]))
    return render(request, "keys/detail.html", context)


def _traffic_panel(rotation) -> dict:
    """A rotation in grace shows its keys' traffic (then refreshed by HTMX polling)."""
    if rotation is None or rotation.state != rotation.State.GRACE:
        return {}
    try:
        return {"traffic": rotation_observe(rotation), "rotation": rotation}
    except VeniceError as error:
        return {"traffic_error": error, "rotation": rotation}


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_variables("created")
def key_new(request):
    may_create_admin = request.user.has_perm(Ability.MANAGE_ADMIN_KEYS.permission)
    if request.method == "POST" and request.POST.get("api_key_type") == APIKeyType.ADMIN:
        if not may_create_admin:
            return refuse(request, Ability.MANAGE_ADMIN_KEYS, reason=ADMIN_KEYS_REFUSED)

    form = KeyCreateForm(_posted(request), allow_admin=may_create_admin, user=request.user)
    error, held = None, {}
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["submission"]
        already = request.session.get(_CREATED_SESSION_KEY, {}).get(token)
        if already:
            messages.info(request, "That key was already created; its secret is shown only once.")
            return _redirect(request, reverse("keys:detail", args=[already]))
        settings = form.settings()
        try:
            created = api_key_create(context=audit_context_from_request(request), **settings)
        except PolicyForbids as refused:
            form.add_error(None, refused.message)
        except (KeyScopeRefused, OwnershipInvalid) as refused:
            form.add_error("team", refused.message)
        except ApprovalRequired as refused:
            url = hold_for_approval(
                request,
                refused,
                action=ChangeRequest.Action.CREATE,
                arguments=settings,
                key_type=settings["api_key_type"],
                description=settings["description"],
            )
            if url is not None:
                return _redirect(request, url)
            held = approval_context(request, refused)
        except ValidationError as exc:
            form.add_upstream_errors(exc)
            error = exc
        except VeniceError as exc:
            error = exc
        else:
            _remember_created(request, token, created.id)
            return _created_page(request, created)

    template = "keys/new.html#form" if _fragment(request) else "keys/new.html"
    context = {"form": form, "error": error, "policies_in_force": policies_in_force(), **held}
    return render(request, template, context)


@sensitive_variables("created")
def _created_page(request, created: APIKey):
    """The secret, once: this response is the only place it ever appears. It is not cached
    (never_cache on the view), and the address bar is moved to the key's page, so a reload
    shows that page without the secret."""
    key_url = reverse("keys:detail", args=[created.id])
    context = {"key": created, "secret": created.secret, "key_url": key_url}
    if _fragment(request):
        response = render(request, "keys/created.html#created", context)
        response["HX-Retarget"] = "#main"
        response["HX-Reswap"] = "innerHTML show:top"
        response["HX-Replace-Url"] = key_url
        return response
    return render(request, "keys/created.html", context)


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_http_methods(["GET", "POST"])
def key_edit(request, key_id: str):
    key, refusal = _key_to_manage(request, key_id)
    if refusal is not None:
        return refusal

    form = KeyEditForm(_posted(request), key=key)
    error, held = None, {}
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        if not changes:
            messages.info(request, "Nothing changed.")
            return _redirect(request, reverse("keys:detail", args=[key.id]))
        try:
            api_key_update(context=audit_context_from_request(request), key=key, **changes)
        except PolicyForbids as refused:
            form.add_error(None, refused.message)
        except ApprovalRequired as refused:
            url = hold_for_approval(
                request, refused, action=ChangeRequest.Action.UPDATE, arguments=changes, key=key
            )
            if url is not None:
                return _redirect(request, url)
            held = approval_context(request, refused)
        except ValidationError as exc:
            form.add_upstream_errors(exc)
            error = exc
        except VeniceError as exc:
            error = exc
        else:
            messages.success(request, f"Saved the changes to “{key.description}”.")
            return _redirect(request, reverse("keys:detail", args=[key.id]))

    template = "keys/edit.html#form" if _fragment(request) else "keys/edit.html"
    context = {
        "form": form,
        "key": key,
        "error": error,
        "policies_in_force": policies_in_force(),
        **held,
    }
    return render(request, template, context)


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_http_methods(["GET", "POST"])
def key_delete(request, key_id: str):
    key, refusal = _key_to_manage(request, key_id)
    if refusal is not None:
        return refusal

    form = KeyDeleteForm(_posted(request), key=key)
    error, held = None, {}
    # Shown before submit: whether this delete waits for a second Administrator.
    decision = policy_check_delete(key=key)
    if decision.needs_approval:
        held = {"approval_needed": decision.needs_approval}
    if request.method == "POST" and form.is_valid():
        try:
            api_key_delete(context=audit_context_from_request(request), key=key)
        except ApprovalRequired as refused:
            url = hold_for_approval(
                request, refused, action=ChangeRequest.Action.DELETE, arguments={}, key=key
            )
            if url is not None:
                return _redirect(request, url)
            held = approval_context(request, refused)
        except KeyChangeRefused as refused:
            form.add_error(None, refused.message)
        except VeniceError as exc:
            error = exc
        else:
            messages.success(
                request, format_html("Deleted “{}” (…{}).", key.description, key.last6)
            )
            return _redirect(request, reverse("keys:list"))

    context = {
        "form": form,
        "key": key,
        "error": error,
        "replaced_in": rotation_open_with_replacement(key_id=key.id),
        **held,
    }
    template = "keys/delete.html#form" if _fragment(request) else "keys/delete.html"
    return render(request, template, context)


def _key_to_manage(request, key_id: str):
    """(key, None) when the user may change this key, else (None, the response to send).
    The key is read past the cache: the form and the change must start from Venice's copy."""
    key, error = _fetch(key_id, fresh=True)
    if error is not None:
        return None, _upstream_error_page(request, error)
    if key is None:
        return None, _not_found(request, key_id)
    if not may_manage_key_type(request.user, key.api_key_type):
        return None, refuse(request, Ability.MANAGE_ADMIN_KEYS, reason=ADMIN_KEYS_REFUSED)
    if reason := scope_refusal(request.user, key.id, key.description):
        return None, refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)
    return key, None


def _posted(request):
    # Not `request.POST or None`: an empty POST (a delete form with nothing to type) is
    # still a submission.
    return request.POST if request.method == "POST" else None


def _fetch(key_id: str, *, fresh: bool = False) -> tuple[APIKey | None, VeniceError | None]:
    try:
        return api_key_get(key_id=key_id, fresh=fresh), None
    except VeniceError as exc:
        return None, exc


def _not_found(request, key_id: str):
    context = {"key_id": key_id, "retired_by": rotation_retired(key_id=key_id)}
    return render(request, "keys/not_found.html", context, status=404)


def _upstream_error_page(request, error: VeniceError):
    # The page has nothing to show without Venice: a 503 that says why, never a 500.
    return render(request, "keys/unavailable.html", {"error": error}, status=503)


def _redirect(request, url: str):
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _remember_created(request, token: str, key_id: str) -> None:
    created = dict(request.session.get(_CREATED_SESSION_KEY, {}))
    created[token] = key_id
    # Keep the newest few: dicts keep insertion order.
    request.session[_CREATED_SESSION_KEY] = dict(list(created.items())[-_CREATED_REMEMBERED:])
