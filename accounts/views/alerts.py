"""The alert pages: rules, channels, the notification log, one firing, the bell.

Everyone with a role sees alerts (Ability.VIEW_ALERTS), each what their role may read
(kinds.py). Rules are managed by kind: Administrators all, Key managers the key kinds, Finance
the balance and spend kinds; Auditors read. One small view per action; the services check
again.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import ability_required, refuse
from accounts.forms.alerts import (
    SHARED_FIELDS,
    ChannelForm,
    LogPageForm,
    needs_keys,
    rule_form_class,
)
from accounts.models import AlertChannel, AlertKind, AlertRule
from accounts.roles import Ability
from accounts.selectors.alerts import (
    alert_channels,
    alert_event_for,
    alert_log_page,
    alert_notifications_of,
    alert_rule_count,
    alert_rule_visible,
    alert_rules_visible,
)
from accounts.selectors.keys import api_key_list
from accounts.services.alerts import (
    AlertChannelError,
    AlertRuleError,
    alert_channel_create,
    alert_channel_delete,
    alert_channel_test,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_set_enabled,
    alert_rule_update,
    alert_rules_starter,
    notifications_mark_read,
)
from accounts.services.alerts.channels import CHANNEL_DELETE_REFUSED, CHANNELS_REFUSED
from accounts.services.alerts.kinds import (
    KINDS,
    describe,
    manageable_kinds,
    may_delete_channel,
    may_manage_channels,
    may_manage_kind,
)
from accounts.services.alerts.messages import fact_rows
from accounts.services.alerts.rules import RULES_REFUSED
from accounts.services.audit import audit_context_from_request
from accounts.venice import VeniceError

NO_RULES_TO_MANAGE = "Your role may not manage alert rules: Administrators, Key managers and "
NO_RULES_TO_MANAGE += "Finance do, each for their kinds."


def _allowed(test, reason: str):
    """Refuse (403) unless `test(request, **kwargs)`: what the role may do here depends on
    more than one ability (or on the rule's kind). Placed before the method check, so a role
    is refused whatever the method, as everywhere in the portal."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not test(request, **kwargs):
                return refuse(request, reason=reason)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _manages_some_kind(request, **kwargs) -> bool:
    return bool(manageable_kinds(request.user))


def _manages_rule(request, rule_id: int) -> bool:
    return may_manage_kind(request.user, get_object_or_404(AlertRule, pk=rule_id).kind)


def _manages_channels(request, **kwargs) -> bool:
    return may_manage_channels(request.user)


def _may_delete_channel(request, channel_id: int) -> bool:
    return may_delete_channel(request.user, get_object_or_404(AlertChannel, pk=channel_id))


def _rule_rows(rules: list[AlertRule], user) -> list[dict]:
    return [
        {
            "rule": rule,
            "sentence": describe(rule.kind, rule.params),
            "may_manage": may_manage_kind(user, rule.kind),
            "members": [
                member.get_full_name() or member.get_username()
                for member in rule.notify_users.all()
            ],
            "channels": [channel.name for channel in rule.channels.all()],
        }
        for rule in rules
    ]


@ability_required(Ability.VIEW_ALERTS)
@require_GET
def rule_list(request):
    kinds = manageable_kinds(request.user)
    context = {
        "rows": _rule_rows(alert_rules_visible(request.user), request.user),
        "may_create": bool(kinds),
        "offer_starter": bool(kinds) and alert_rule_count() == 0,
    }
    return render(request, "alerts/rules.html", context)


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_some_kind, NO_RULES_TO_MANAGE)
@require_GET
def rule_new(request):
    kinds = manageable_kinds(request.user)
    choices = [
        {"kind": kind, "label": kind.label, "summary": KINDS[kind].summary} for kind in kinds
    ]
    return render(request, "alerts/rule_kinds.html", {"choices": choices})


def _keys_for(kind: str):
    """The keys a rule of this kind may name (for its select), and Venice's error if none."""
    if not needs_keys(kind):
        return [], None
    try:
        return [row.key for row in api_key_list().rows], None
    except VeniceError as error:
        return [], error


def _form_page(request, form, kind, *, rule=None, error=None):
    context = {
        "form": form,
        "kind_fields": [form[name] for name in form.fields if name not in SHARED_FIELDS],
        "kind": kind,
        "kind_label": kind.label,
        "summary": KINDS[kind].summary,
        "rule": rule,
        "error": error,
        "action": (
            reverse("alerts:edit", args=[rule.pk])
            if rule
            else reverse("alerts:new_kind", args=[kind])
        ),
    }
    return render(request, "alerts/rule_form.html", context)


@ability_required(Ability.VIEW_ALERTS)
@require_http_methods(["GET", "POST"])
def rule_new_kind(request, kind: str):
    if kind not in KINDS:
        raise Http404("No such kind of alert rule")
    kind = AlertKind(kind)
    if not may_manage_kind(request.user, kind):
        return refuse(request, reason=RULES_REFUSED)
    keys, error = _keys_for(kind)
    form_class = rule_form_class(kind)
    initial = {
        **form_class.initial_params(KINDS[kind].defaults),
        "notify_users": [request.user],
        "email_users": True,
        "enabled": True,
    }
    form = form_class(request.POST or None, keys=keys, initial=initial)
    if request.method == "POST" and form.is_valid():
        context = audit_context_from_request(request)
        rule = _saved_or_refused(
            form, lambda: alert_rule_create(context=context, kind=kind, **form.rule_fields())
        )
        if rule is not None:
            messages.success(
                request, f"Rule “{rule.name}” saved. check_alerts watches it from its next run."
            )
            return redirect("alerts:rules")
    return _form_page(request, form, kind, error=error)


def _saved_or_refused(form, save):
    """What `save()` returns, or None with the service's refusal on the form."""
    try:
        return save()
    except (AlertRuleError, PermissionDenied) as refused:
        form.add_error(None, getattr(refused, "message", None) or str(refused))
        return None


def _managed_rule(request, rule_id: int) -> AlertRule:
    """The rule (its kind's management was checked by `_manages_rule`), or 404."""
    rule = alert_rule_visible(request.user, rule_id)
    if rule is None:
        raise Http404("No such alert rule")
    return rule


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_rule, RULES_REFUSED)
@require_http_methods(["GET", "POST"])
def rule_edit(request, rule_id: int):
    rule = _managed_rule(request, rule_id)
    kind = AlertKind(rule.kind)
    keys, error = _keys_for(kind)
    form_class = rule_form_class(kind)
    form = form_class(request.POST or None, keys=keys, initial=form_class.initial_for(rule))
    if request.method == "POST" and form.is_valid():
        context = audit_context_from_request(request)
        changed = _saved_or_refused(
            form, lambda: alert_rule_update(context=context, rule=rule, **form.rule_fields())
        )
        if changed is not None:
            messages.success(
                request, f"Rule “{rule.name}” saved." if changed else "Nothing changed."
            )
            return redirect("alerts:rules")
    return _form_page(request, form, kind, rule=rule, error=error)


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_rule, RULES_REFUSED)
@require_http_methods(["GET", "POST"])
def rule_delete(request, rule_id: int):
    rule = _managed_rule(request, rule_id)
    if request.method == "POST":
        alert_rule_delete(context=audit_context_from_request(request), rule=rule)
        messages.success(request, f"Rule “{rule.name}” deleted; its notifications stay in the log.")
        return redirect("alerts:rules")
    context = {"rule": rule, "sentence": describe(rule.kind, rule.params)}
    return render(request, "alerts/rule_delete.html", context)


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_rule, RULES_REFUSED)
@require_POST
def rule_toggle(request, rule_id: int):
    rule = get_object_or_404(AlertRule, pk=rule_id)
    enabled = not rule.enabled
    alert_rule_set_enabled(context=audit_context_from_request(request), rule=rule, enabled=enabled)
    messages.success(request, f"Rule “{rule.name}” is {'on' if enabled else 'off'}.")
    return redirect("alerts:rules")


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_some_kind, NO_RULES_TO_MANAGE)
@require_POST
def starter(request):
    made = alert_rules_starter(context=audit_context_from_request(request), notify=[request.user])
    messages.success(
        request,
        f"{len(made)} starter rule(s) added, telling you by email and here. Change or delete any.",
    )
    return redirect("alerts:rules")


# --- channels ---------------------------------------------------------------------------------


@ability_required(Ability.VIEW_ALERTS)
@require_GET
def channel_list(request):
    rows = [
        {
            "channel": channel,
            "may_delete": may_delete_channel(request.user, channel),
        }
        for channel in alert_channels()
    ]
    context = {"rows": rows, "may_manage": may_manage_channels(request.user)}
    return render(request, "alerts/channels.html", context)


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_channels, CHANNELS_REFUSED)
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("url")
@sensitive_variables("created")
@never_cache
def channel_new(request):
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = alert_channel_create(
                context=audit_context_from_request(request),
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                addresses=form.cleaned_data["addresses"],
            )
        except AlertChannelError as refused:
            form.add_error(refused.field if refused.field in form.fields else None, refused.message)
        else:
            # The signing secret is shown on this answer only; it is never stored in the clear.
            return render(request, "alerts/channel_created.html", {"created": created})
    return render(request, "alerts/channel_new.html", {"form": form})


def _channel(channel_id: int) -> AlertChannel:
    return get_object_or_404(AlertChannel, pk=channel_id)


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_may_delete_channel, CHANNEL_DELETE_REFUSED)
@require_POST
def channel_delete(request, channel_id: int):
    channel = _channel(channel_id)
    alert_channel_delete(context=audit_context_from_request(request), channel=channel)
    messages.success(request, f"Channel “{channel.name}” deleted.")
    return redirect("alerts:channels")


@ability_required(Ability.VIEW_ALERTS)
@_allowed(_manages_channels, CHANNELS_REFUSED)
@require_POST
def channel_test(request, channel_id: int):
    channel = _channel(channel_id)
    outcome = alert_channel_test(context=audit_context_from_request(request), channel=channel)
    if outcome.ok:
        messages.success(request, f"Test message sent to “{channel.name}”.")
    else:
        messages.error(request, f"The test message to “{channel.name}” failed: {outcome.error}.")
    return redirect("alerts:channels")


# --- the log and the bell -------------------------------------------------------------------------


@ability_required(Ability.VIEW_ALERTS)
@require_GET
def log(request):
    form = LogPageForm(request.GET)
    before = form.cleaned_data.get("before") if form.is_valid() else None
    page = alert_log_page(request.user, before=before)
    return render(request, "alerts/log.html", {"page": page, "first_page": before is None})


@ability_required(Ability.VIEW_ALERTS)
@require_GET
def event_detail(request, event_id: int):
    event = alert_event_for(request.user, event_id)
    if event is None:
        raise Http404("No such notification")
    notifications_mark_read(user=request.user, event_ids=[event.pk])
    context = {
        "event": event,
        "facts": fact_rows(event),
        "rule_sentence": describe(event.rule.kind, event.rule.params) if event.rule else "",
    }
    return render(request, "alerts/event.html", context)


@ability_required(Ability.VIEW_ALERTS)
@require_GET
def notifications(request):
    items = alert_notifications_of(request.user)
    return render(request, "alerts/notifications.html", {"items": items})


@ability_required(Ability.VIEW_ALERTS)
@require_POST
def notifications_read(request):
    count = notifications_mark_read(user=request.user)
    messages.success(
        request, f"{count} notification(s) marked read." if count else "Nothing unread."
    )
    return redirect("alerts:notifications")
