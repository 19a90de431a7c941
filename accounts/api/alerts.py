"""/api/v1/alerts/rules: the alert rules of /alerts/, over the same forms (validation) and
services (who manages which kind, audit) as the pages.

A rule's `params` are sent as the API returns them (an amount as text, thresholds as a list):
each kind's form reads them as the edit page's initial values do, so the API and the page
validate alike and a 422 names the form's field (`amount`, `thresholds`, `key`, ...)."""

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from ninja import Router, Schema, Status

from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError, check_form
from accounts.api.keys import ERRORS
from accounts.forms.alerts import needs_keys, rule_form_class
from accounts.models import AlertKind, AlertRule
from accounts.roles import Ability
from accounts.selectors.alerts import alert_rule_visible, alert_rules_visible
from accounts.selectors.keys import api_key_list
from accounts.services.alerts import (
    AlertRuleError,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
)
from accounts.services.alerts.kinds import KINDS, may_manage_kind

router = Router(tags=["alerts"])

NO_SUCH_RULE = "There is no alert rule with this id, or it is not one you may see."
NO_SUCH_KIND = "There is no alert rule kind {kind!r}; the kinds are: {kinds}."
NOT_YOURS = "Your role may not manage rules of this kind."
UNKNOWN_MEMBERS = "No active member is called {names}."


class Rule(Schema):
    id: int
    kind: str
    name: str
    params: dict[str, Any]
    enabled: bool
    notify_users: list[str]
    email_users: bool
    channels: list[int]
    created_by: str
    created_at: datetime


class Rules(Schema):
    rules: list[Rule]


class NewRule(Schema):
    kind: str
    name: str = ""
    params: dict[str, Any] = {}
    enabled: bool = True
    notify_users: list[str] = []  # usernames
    email_users: bool = True
    channels: list[int] = []


class RuleChange(Schema):
    name: str | None = None
    params: dict[str, Any] | None = None
    enabled: bool | None = None
    notify_users: list[str] | None = None
    email_users: bool | None = None
    channels: list[int] | None = None


@router.get("/alerts/rules", response={200: Rules, **ERRORS}, summary="List alert rules")
def rule_list(request):
    """The rules of every kind your role may read."""
    require(request, Ability.VIEW_ALERTS)
    return {"rules": [rule_out(rule) for rule in alert_rules_visible(request.user)]}


@router.get("/alerts/rules/{rule_id}", response={200: Rule, **ERRORS}, summary="Get a rule")
def rule_get(request, rule_id: int):
    require(request, Ability.VIEW_ALERTS)
    return rule_out(_visible(request, rule_id))


@router.post("/alerts/rules", response={201: Rule, **ERRORS}, summary="Create an alert rule")
def rule_create(request, body: NewRule):
    """`params` default to the kind's defaults (those of the page's form)."""
    require(request, Ability.VIEW_ALERTS)
    if body.kind not in KINDS:
        kinds = ", ".join(AlertKind.values)
        raise ApiError(422, "invalid", NO_SUCH_KIND.format(kind=body.kind, kinds=kinds))
    _check_may_manage(request, body.kind)
    form = _bound_form(
        body.kind,
        params={**KINDS[body.kind].defaults, **body.params},
        shared=body.dict(exclude={"kind", "params"}),
    )
    rule = _saved(
        lambda: alert_rule_create(
            context=audit_context(request), kind=body.kind, **form.rule_fields()
        )
    )
    return Status(201, rule_out(rule))


@router.patch("/alerts/rules/{rule_id}", response={200: Rule, **ERRORS}, summary="Change a rule")
def rule_update(request, rule_id: int, body: RuleChange):
    """Only the fields sent change; `params` sent replace the rule's (the kind stays)."""
    require(request, Ability.VIEW_ALERTS)
    rule = _visible(request, rule_id)
    _check_may_manage(request, rule.kind)
    current = rule_out(rule)
    sent = body.dict(exclude_unset=True)
    form = _bound_form(
        rule.kind,
        params=sent.pop("params", None) or rule.params,
        shared={**current, **sent},
        rule=rule,
    )
    _saved(
        lambda: alert_rule_update(context=audit_context(request), rule=rule, **form.rule_fields())
    )
    return rule_out(_visible(request, rule_id))


@router.delete("/alerts/rules/{rule_id}", response={204: None, **ERRORS}, summary="Delete a rule")
def rule_delete(request, rule_id: int):
    require(request, Ability.VIEW_ALERTS)
    rule = _visible(request, rule_id)
    _check_may_manage(request, rule.kind)
    _saved(lambda: alert_rule_delete(context=audit_context(request), rule=rule))
    return Status(204, None)


def rule_out(rule: AlertRule) -> dict:
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "name": rule.name,
        "params": rule.params or {},
        "enabled": rule.enabled,
        "notify_users": sorted(user.get_username() for user in rule.notify_users.all()),
        "email_users": rule.email_users,
        "channels": sorted(channel.pk for channel in rule.channels.all()),
        "created_by": rule.created_by_username,
        "created_at": rule.created_at,
    }


def _visible(request, rule_id: int) -> AlertRule:
    rule = alert_rule_visible(request.user, rule_id)
    if rule is None:
        raise ApiError(404, "not_found", NO_SUCH_RULE)
    return rule


def _check_may_manage(request, kind: str) -> None:
    if not may_manage_kind(request.user, kind):
        raise ApiError(403, "forbidden", NOT_YOURS)


def _bound_form(kind: str, *, params: dict, shared: dict, rule: AlertRule | None = None):
    """The kind's form, bound to what the page would post for these values."""
    form_class = rule_form_class(kind)
    keys = [row.key for row in api_key_list().rows] if needs_keys(kind) else []
    data = {
        **form_class.initial_params(params),
        "name": shared.get("name") or "",
        "enabled": shared.get("enabled", True),
        "email_users": shared.get("email_users", True),
        "notify_users": _member_ids(shared.get("notify_users") or []),
        "channels": shared.get("channels") or [],
    }
    initial = form_class.initial_for(rule) if rule is not None else {}
    form = form_class(data, keys=keys, initial=initial)
    check_form(form)
    return form


def _member_ids(usernames: list[str]) -> list[int]:
    members = dict(
        get_user_model()
        .objects.filter(username__in=usernames, is_active=True)
        .values_list("username", "pk")
    )
    unknown = [name for name in usernames if name not in members]
    if unknown:
        message = UNKNOWN_MEMBERS.format(names=", ".join(unknown))
        raise ApiError(422, "invalid", message, fields={"notify_users": [message]})
    return [members[name] for name in usernames]


def _saved(save):
    try:
        return save()
    except AlertRuleError as refused:
        raise ApiError(422, "invalid", refused.message) from None
    except PermissionDenied as refused:
        raise ApiError(403, "forbidden", str(refused) or NOT_YOURS) from None
