"""/api/v1/keys: the key pages' operations, over the same forms (validation) and services
(roles, policies, audit) as the pages. A created key's secret is in that one response."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from ninja import Query, Router, Schema, Status

from accounts.api import idempotency
from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError, check_form
from accounts.api.schemas import CreatedKey, Error, Held, Key, KeyChange, KeyList, NewKey
from accounts.forms import KeyCreateForm, KeyEditForm, KeyFilterForm
from accounts.models import ChangeRequest, Team
from accounts.roles import Ability
from accounts.selectors.keys import api_key_get, api_key_list, api_key_list_all
from accounts.services.approvals import change_request_create, encode_payload
from accounts.services.key_ownership import ownership_of, scope_refusal
from accounts.services.keys import (
    ADMIN_KEYS_REFUSED,
    api_key_create,
    api_key_delete,
    api_key_update,
    may_manage_key_type,
)
from accounts.services.policies import ApprovalRequired
from accounts.venice import APIKey, APIKeyType

router = Router(tags=["keys"])

NO_SUCH_KEY = "Venice has no key with this id; it may have been deleted."
NOTHING_TO_CHANGE = "Nothing to change: send at least one field."
# The errors any operation may answer with (errors.py), for the OpenAPI document.
ERRORS = {401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 429: Error, 503: Error}


class KeyFilters(Schema):
    type: Literal["INFERENCE", "ADMIN"] | None = None
    status: Literal["active", "expiring", "expired", "unused", "unlimited"] | None = None
    q: str = ""
    sort: (
        Literal["-created", "created", "-last_used", "last_used", "expires", "-expires"] | None
    ) = None


@router.get("/keys", response={200: KeyList, **ERRORS}, summary="List keys")
def list_keys(request, filters: Query[KeyFilters]):
    """Every key of the account, filtered and sorted as the key list page does."""
    require(request, Ability.VIEW_KEYS)
    form = KeyFilterForm(filters.dict(exclude_none=True))
    check_form(form)
    listing = api_key_list(query=form.query())
    keys = [key_out(row.key, ownership=row.ownership) for row in listing.rows]
    return {"keys": keys, "total": listing.total}


@router.get("/keys/{key_id}", response={200: Key, **ERRORS}, summary="Get a key")
def get_key(request, key_id: str):
    require(request, Ability.VIEW_KEYS)
    key = _key(key_id)
    return key_out(key, ownership=ownership_of(key.id))


@router.post(
    "/keys",
    response={201: CreatedKey, 202: Held, **ERRORS},
    summary="Create a key",
)
@sensitive_variables("created")
def create_key(request, body: NewKey):
    """The secret is in this response only. With an `Idempotency-Key` header, the same
    request sent again answers with the same key (and no secret) instead of a second key."""
    require(request, Ability.MANAGE_INFERENCE_KEYS)
    if body.type == APIKeyType.ADMIN and not request.user.has_perm(
        Ability.MANAGE_ADMIN_KEYS.permission
    ):
        raise ApiError(403, "forbidden", ADMIN_KEYS_REFUSED)
    return idempotency.once(request, body, lambda: _create(request, body))


def _create(request, body: NewKey):
    form = KeyCreateForm(_create_data(body), allow_admin=True, user=request.user)
    check_form(form)
    settings = form.settings()
    try:
        created = api_key_create(context=audit_context(request), **settings)
    except ApprovalRequired as held:
        return hold(
            request,
            held,
            body.reason,
            action=ChangeRequest.Action.CREATE,
            arguments=settings,
            key_type=settings["api_key_type"],
            description=settings["description"],
        )
    return Status(201, key_out(created, ownership=ownership_of(created.id), secret=created.secret))


@router.patch("/keys/{key_id}", response={200: Key, 202: Held, **ERRORS}, summary="Change a key")
def update_key(request, key_id: str, body: KeyChange):
    """Only the fields sent change; `null` clears a limit or the expiry."""
    require(request, Ability.MANAGE_INFERENCE_KEYS)
    key = key_to_manage(request, key_id)
    sent = body.model_fields_set - {"reason"}
    if not sent:
        raise ApiError(422, "invalid", NOTHING_TO_CHANGE)
    form = KeyEditForm(_edit_data(key, body, sent), key=key)
    check_form(form)
    changes = form.changes()
    if not changes:
        return Status(200, key_out(key, ownership=ownership_of(key.id)))
    try:
        updated = api_key_update(context=audit_context(request), key=key, **changes)
    except ApprovalRequired as held:
        return hold(
            request,
            held,
            body.reason,
            action=ChangeRequest.Action.UPDATE,
            arguments=changes,
            key=key,
        )
    return Status(200, key_out(updated, ownership=ownership_of(updated.id)))


class DeleteRequest(Schema):
    reason: str = ""


@router.delete("/keys/{key_id}", response={204: None, 202: Held, **ERRORS}, summary="Delete a key")
def delete_key(request, key_id: str, body: Query[DeleteRequest]):
    """`reason` (a query parameter) asks for approval when a policy holds the delete."""
    require(request, Ability.MANAGE_INFERENCE_KEYS)
    key = key_to_manage(request, key_id)
    try:
        api_key_delete(context=audit_context(request), key=key)
    except ApprovalRequired as held:
        return hold(
            request, held, body.reason, action=ChangeRequest.Action.DELETE, arguments={}, key=key
        )
    return Status(204, None)


# --- shared with the rotation endpoints --------------------------------------------------------


def key_out(key: APIKey, *, ownership=None, **extra) -> dict:
    usage = key.current_period_usage
    week = key.trailing_seven_days
    owner = None
    if ownership is not None:
        owner = ownership.owner.get_username() if ownership.owner else ownership.owner_contact
    return {
        "team": ownership.team.slug if ownership is not None and ownership.team else None,
        "owner": owner or None,
        "id": key.id,
        "description": key.description,
        "type": str(key.api_key_type),
        "last6": key.last6,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "limits": {"usd": key.consumption_limits.usd, "diem": key.consumption_limits.diem},
        "limit_period": str(key.limit_period),
        "model_privacy": str(key.model_privacy),
        "current_period_usage": {"usd": usage.usd, "diem": usage.diem} if usage else None,
        "trailing_seven_days": {"usd": week.usd, "diem": week.diem} if week else None,
        **extra,
    }


def _key(key_id: str, *, fresh: bool = False) -> APIKey:
    """The key, or a 404. An id is looked for in the key list first: Venice counts a 404 as a
    failed request, and a script asking for ids that do not exist must not spend the
    portal's failed-request budget (accounts/venice/breaker.py) for everyone."""
    if not any(key.id == key_id for key in api_key_list_all(fresh=False)):
        if not any(key.id == key_id for key in api_key_list_all(fresh=True)):
            raise ApiError(404, "not_found", NO_SUCH_KEY)
    key = api_key_get(key_id=key_id, fresh=fresh)
    if key is None:
        raise ApiError(404, "not_found", NO_SUCH_KEY)
    return key


def key_to_manage(request, key_id: str) -> APIKey:
    # Past the cache: a change is judged against the key as it is now.
    key = _key(key_id, fresh=True)
    if not may_manage_key_type(request.user, key.api_key_type):
        raise ApiError(403, "forbidden", ADMIN_KEYS_REFUSED)
    if reason := scope_refusal(request.user, key.id, key.description):
        raise ApiError(403, "forbidden", reason)
    return key


def hold(request, held: ApprovalRequired, reason: str, **request_fields):
    """A change a policy holds: with a reason, a change request (202) for another
    Administrator; without one, 409 naming the policies (the error handler)."""
    reason = (reason or "").strip()
    if not reason:
        raise held
    arguments = request_fields.pop("arguments")
    change = change_request_create(
        context=audit_context(request),
        hits=held.hits,
        reason=reason,
        payload=encode_payload(arguments),
        **request_fields,
    )
    message = f"The change waits for a second Administrator's approval (request {change.pk})."
    return Status(202, {"change_request": change.pk, "state": change.state, "message": message})


def _create_data(body: NewKey) -> dict:
    """The create form's fields from the body: the page's validation, the API's defaults."""
    data = {
        "description": body.description,
        "api_key_type": body.type,
        "usd_limit": _text(body.usd_limit),
        "diem_limit": _text(body.diem_limit),
        "limit_period": body.limit_period,
        "model_privacy": body.model_privacy,
        # One request, one key: idempotency is the Idempotency-Key header's job here.
        "submission": "api-" + timezone.now().strftime("%Y%m%d%H%M%S%f"),
        "owner_contact": body.owner_contact,
    }
    if body.team:
        team = Team.objects.filter(slug=body.team).first()
        data["team"] = str(team.pk) if team else "unknown"
    if body.owner:
        owner = get_user_model().objects.filter(username=body.owner, is_active=True).first()
        data["owner"] = str(owner.pk) if owner else "unknown"
    if "expires_at" not in body.model_fields_set:
        data["expiry"] = KeyCreateForm.base_fields["expiry"].initial  # the page's default
    elif body.expires_at is None:
        data["expiry"] = "never"
    else:
        data["expiry"] = "date"
        data["expires_at"] = body.expires_at.isoformat()
    return data


def _edit_data(key: APIKey, body: KeyChange, sent: set[str]) -> dict:
    """The edit form's fields: what the key holds, with what the body sends over it. The
    form's hidden initial values are the key's, so only what was sent counts as changed."""
    current = KeyEditForm(key=key).initial
    data = {}
    for name, value in current.items():
        data[name] = _text(value)
        data[f"initial-{name}"] = _text(value)
    for name in sent:
        data[name] = _text(getattr(body, name))
    return data


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
