"""Forms of the alert pages: a rule of each kind (its parameters, who is told and how), a
channel, the log's paging.

`rule_form_class(kind)` builds the form of one kind: the shared fields (name, on/off, members
told, by email, channels) and the kind's own; `form.params()` is what AlertRule.params keeps.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import AlertChannel, AlertKind, AlertRule, ChannelKind, Team
from accounts.roles import ROLES, role_of
from accounts.services.alerts.kinds import KINDS
from accounts.venice import APIKey, APIKeyType

AMOUNT_MAX = Decimal("9999999999")
THRESHOLDS_INVALID = "Give percentages from 1 to 1000, separated by commas (e.g. 80, 90, 100)."
SPEND_AMOUNT_REQUIRED = "Give a USD amount, a DIEM amount, or both."
KEY_REQUIRED = "Choose the key."
KEY_TYPE_REQUIRED = "Choose the type of key."
AUDIT_CHECK_REQUIRED = "Choose what to watch: the hash chain, drift, or both."
NOBODY_TOLD = "Choose who is told: a member, a channel, or both."

SCOPE_CHOICES = [("all", "All keys"), ("type", "Keys of one type"), ("key", "One key")]
KEY_TYPE_CHOICES = [("", "—")] + [(kind.value, kind.value) for kind in APIKeyType]


def key_choices(keys: list[APIKey]) -> list[tuple[str, str]]:
    """A select's choices for keys: description, last six characters and type."""
    ordered = sorted(keys, key=lambda key: (key.description.casefold(), key.id))
    return [
        (key.id, f"{key.description} (…{key.last6}, {key.api_key_type.value})") for key in ordered
    ]


def thresholds_from_text(text: str) -> list[int]:
    """ "80, 90 %, 100" -> [80, 90, 100]: percentages from 1 to 1000, ten at most."""
    parts = [part.strip().rstrip("%").strip() for part in text.split(",")]
    try:
        values = sorted({int(part) for part in parts if part})
    except ValueError:
        raise forms.ValidationError(THRESHOLDS_INVALID) from None
    if not values or not all(1 <= value <= 1000 for value in values) or len(values) > 10:
        raise forms.ValidationError(THRESHOLDS_INVALID)
    return values


def thresholds_text(params: dict) -> str:
    return ", ".join(str(value) for value in params.get("thresholds") or [])


class _MemberChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user):
        name = user.get_full_name() or user.get_username()
        role = role_of(user) or "no role"
        email = "" if user.email else " — no email address"
        return f"{name} ({user.get_username()}, {role}){email}"


class _ChannelChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, channel):
        return f"{channel.name} ({channel.get_kind_display()}, {channel.where})"


# The fields every kind's form has, besides its parameters.
SHARED_FIELDS = ("name", "enabled", "notify_users", "email_users", "channels")


class _RuleForm(forms.Form):
    kind: str = ""
    name = forms.CharField(
        label="Name",
        max_length=120,
        required=False,
        help_text="What the messages and the log call this rule (leave empty for a description).",
    )
    enabled = forms.BooleanField(label="On", required=False, initial=True)
    notify_users = _MemberChoice(
        label="Members told",
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="They see it under the bell in the portal.",
    )
    email_users = forms.BooleanField(
        label="Email them too", required=False, initial=True,
        help_text="At the address of their account.",
    )  # fmt: skip
    channels = _ChannelChoice(
        label="Channels",
        queryset=AlertChannel.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Slack, Teams, webhooks and mailboxes (add them on the Channels page).",
    )

    def __init__(self, *args, keys: list[APIKey] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["notify_users"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=ROLES)
            .distinct()
            .order_by("first_name", "username")
        )
        self.fields["channels"].queryset = AlertChannel.objects.filter(enabled=True).order_by(
            "name"
        )
        if "key" in self.fields:
            choices = key_choices(keys or [])
            blank = self.fields["key"].choices[:1]
            known = dict(choices)
            chosen = self.data.get("key") or self.initial.get("key")
            if chosen and chosen not in known:
                # The key of a rule whose key Venice no longer lists stays choosable.
                choices.append((chosen, self.initial.get("key_label") or chosen))
            self.fields["key"].choices = blank + choices
            self._key_labels = dict(choices)

    def clean(self):
        data = super().clean()
        if not data.get("notify_users") and not data.get("channels") and not self.errors:
            raise forms.ValidationError(NOBODY_TOLD)
        return data

    def rule_fields(self) -> dict:
        """What alert_rule_create and alert_rule_update take from a valid form."""
        data = self.cleaned_data
        shared = {name: data[name] for name in SHARED_FIELDS}
        return {**shared, "params": self.params()}

    # --- what the kinds need ------------------------------------------------------------------

    def params(self) -> dict:
        raise NotImplementedError

    @classmethod
    def initial_for(cls, rule: AlertRule) -> dict:
        return {
            "name": rule.name,
            "enabled": rule.enabled,
            "notify_users": list(rule.notify_users.all()),
            "email_users": rule.email_users,
            "channels": list(rule.channels.all()),
            **cls.initial_params(rule.params or {}),
        }

    @classmethod
    def initial_params(cls, params: dict) -> dict:
        return dict(params)

    def _key_label(self, key_id: str) -> str:
        return getattr(self, "_key_labels", {}).get(key_id, key_id).split(" (…")[0]


def _amount(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal(0),
        max_value=AMOUNT_MAX,
        decimal_places=6,
        help_text=help_text,
    )


class BalanceBelowForm(_RuleForm):
    kind = AlertKind.BALANCE_BELOW
    currency = forms.ChoiceField(
        label="Balance",
        choices=[("USD", "USD balance"), ("DIEM", "DIEM left this epoch (UTC day)")],
        widget=forms.RadioSelect,
        initial="USD",
    )
    amount = _amount("Below", help_text="In the chosen currency.")

    def params(self) -> dict:
        return {
            "currency": self.cleaned_data["currency"],
            "amount": str(self.cleaned_data["amount"]),
        }


class SpendAboveForm(_RuleForm):
    kind = AlertKind.SPEND_ABOVE
    period = forms.ChoiceField(
        label="Per",
        choices=[("day", "Day (UTC)"), ("month", "Calendar month")],
        widget=forms.RadioSelect,
        initial="day",
    )
    usd = _amount("Above (USD)", required=False)
    diem = _amount("Above (DIEM)", required=False)
    key = forms.ChoiceField(
        label="Whose spend", choices=[("", "The whole account")], required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("usd") is None and data.get("diem") is None:
            self.add_error("usd", SPEND_AMOUNT_REQUIRED)
        return data

    def params(self) -> dict:
        data = self.cleaned_data
        key_id = data.get("key") or ""
        return {
            "period": data["period"],
            "usd": "" if data.get("usd") is None else str(data["usd"]),
            "diem": "" if data.get("diem") is None else str(data["diem"]),
            "key_id": key_id,
            "key_label": self._key_label(key_id) if key_id else "",
        }

    @classmethod
    def initial_params(cls, params: dict) -> dict:
        return {**params, "key": params.get("key_id", "")}


class _KeyScopeForm(_RuleForm):
    scope = forms.ChoiceField(
        label="Which keys", choices=SCOPE_CHOICES, widget=forms.RadioSelect, initial="all"
    )
    key_type = forms.ChoiceField(
        label="Type", choices=KEY_TYPE_CHOICES, required=False, help_text="For keys of one type."
    )
    key = forms.ChoiceField(
        label="Key", choices=[("", "—")], required=False, help_text="For one key."
    )

    def clean(self):
        data = super().clean()
        if data.get("scope") == "key" and not data.get("key"):
            self.add_error("key", KEY_REQUIRED)
        if data.get("scope") == "type" and not data.get("key_type"):
            self.add_error("key_type", KEY_TYPE_REQUIRED)
        return data

    def scope_params(self) -> dict:
        data = self.cleaned_data
        scope = data["scope"]
        key_id = data.get("key") or "" if scope == "key" else ""
        return {
            "scope": scope,
            "key_type": data.get("key_type") or "" if scope == "type" else "",
            "key_id": key_id,
            "key_label": self._key_label(key_id) if key_id else "",
        }

    @classmethod
    def initial_params(cls, params: dict) -> dict:
        return {**params, "key": params.get("key_id", "")}


class KeyLimitForm(_KeyScopeForm):
    kind = AlertKind.KEY_LIMIT
    thresholds = forms.CharField(
        label="Tell at (% of the limit)",
        initial="80, 90, 100",
        help_text="Each is told once per limit period (day, month or the key's lifetime).",
    )
    field_order = ["name", "thresholds", "scope", "key_type", "key"]

    def clean_thresholds(self) -> list[int]:
        return thresholds_from_text(self.cleaned_data["thresholds"])

    def params(self) -> dict:
        return {"thresholds": self.cleaned_data["thresholds"], **self.scope_params()}

    @classmethod
    def initial_params(cls, params: dict) -> dict:
        return {**super().initial_params(params), "thresholds": thresholds_text(params)}


class KeyExpiringForm(_KeyScopeForm):
    kind = AlertKind.KEY_EXPIRING
    days = forms.IntegerField(
        label="Within (days)", min_value=1, max_value=365, initial=7,
        help_text="Told once when a key comes within this, and once when it has expired.",
    )  # fmt: skip
    field_order = ["name", "days", "scope", "key_type", "key"]

    def params(self) -> dict:
        return {"days": self.cleaned_data["days"], **self.scope_params()}


class KeyUnusedForm(_KeyScopeForm):
    kind = AlertKind.KEY_UNUSED
    days = forms.IntegerField(
        label="Unused for (days)", min_value=1, max_value=3650, initial=30,
        help_text="A key never used counts from its creation.",
    )  # fmt: skip
    field_order = ["name", "days", "scope", "key_type", "key"]

    def params(self) -> dict:
        return {"days": self.cleaned_data["days"], **self.scope_params()}


class RotationGraceForm(_RuleForm):
    kind = AlertKind.ROTATION_GRACE
    hours = forms.IntegerField(
        label="Grace ends within (hours)", min_value=1, max_value=24 * 30, initial=24
    )
    minutes = forms.IntegerField(
        label="Old key used in the last (minutes)", min_value=1, max_value=7 * 24 * 60,
        initial=60, help_text="From the old key's last use as Venice reports it.",
    )  # fmt: skip

    def params(self) -> dict:
        return {"hours": self.cleaned_data["hours"], "minutes": self.cleaned_data["minutes"]}


class RotationFailedForm(_RuleForm):
    kind = AlertKind.ROTATION_FAILED
    minutes = forms.IntegerField(
        label="Unfinished after (minutes)", min_value=5, max_value=7 * 24 * 60, initial=30,
        help_text="A failed rotation is told at once; a step nobody finished after this long.",
    )  # fmt: skip

    def params(self) -> dict:
        return {"minutes": self.cleaned_data["minutes"]}


class RateLimitsForm(_RuleForm):
    kind = AlertKind.RATE_LIMITS
    count = forms.IntegerField(
        label="More than (violations in 24 h)", min_value=0, max_value=49, initial=10,
        help_text="Venice's log keeps the last 50 violations, so at most 49.",
    )  # fmt: skip

    def params(self) -> dict:
        return {"count": self.cleaned_data["count"]}


class AuditIntegrityForm(_RuleForm):
    kind = AlertKind.AUDIT_INTEGRITY
    chain = forms.BooleanField(
        label="The hash chain does not verify (checked hourly)", required=False, initial=True
    )
    drift = forms.BooleanField(
        label="Keys change outside the portal (new drift)", required=False, initial=True
    )

    def clean(self):
        data = super().clean()
        if not data.get("chain") and not data.get("drift"):
            raise forms.ValidationError(AUDIT_CHECK_REQUIRED)
        return data

    def params(self) -> dict:
        return {"chain": self.cleaned_data["chain"], "drift": self.cleaned_data["drift"]}


class TeamBudgetForm(_RuleForm):
    kind = AlertKind.TEAM_BUDGET
    thresholds = forms.CharField(
        label="Tell at (% of the monthly budget)",
        initial="80, 100",
        help_text="Each is told once per calendar month (UTC), per currency the team has a "
        "budget in.",
    )
    team = forms.ModelChoiceField(
        label="Team",
        queryset=Team.objects.none(),
        required=False,
        empty_label="Every team with a budget",
        help_text="Budgets are set on the team's page.",
    )
    field_order = ["name", "thresholds", "team"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.order_by("name")

    def clean_thresholds(self) -> list[int]:
        return thresholds_from_text(self.cleaned_data["thresholds"])

    def params(self) -> dict:
        team = self.cleaned_data.get("team")
        return {
            "thresholds": self.cleaned_data["thresholds"],
            "team_id": team.pk if team else None,
            "team_label": team.name if team else "",
        }

    @classmethod
    def initial_params(cls, params: dict) -> dict:
        return {**params, "thresholds": thresholds_text(params), "team": params.get("team_id")}


_FORMS = {
    form.kind: form
    for form in (
        BalanceBelowForm,
        SpendAboveForm,
        KeyLimitForm,
        KeyExpiringForm,
        KeyUnusedForm,
        RotationGraceForm,
        RotationFailedForm,
        RateLimitsForm,
        AuditIntegrityForm,
        TeamBudgetForm,
    )
}
assert set(_FORMS) == set(KINDS)


def rule_form_class(kind: str) -> type[_RuleForm]:
    return _FORMS[kind]


def needs_keys(kind: str) -> bool:
    return "key" in rule_form_class(kind).base_fields


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind",
        choices=[
            (ChannelKind.SLACK.value, "Slack — an incoming webhook"),
            (ChannelKind.TEAMS.value, "Microsoft Teams — a Workflows or connector webhook"),
            (ChannelKind.WEBHOOK.value, "Webhook — JSON signed with HMAC-SHA256 (docs/alerts.md)"),
            (ChannelKind.EMAIL.value, "Email — a team mailbox or a list of addresses"),
        ],
        widget=forms.RadioSelect,
        initial=ChannelKind.SLACK.value,
    )
    name = forms.CharField(label="Name", max_length=80, help_text="e.g. #finance-alerts")
    url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Kept encrypted; after this, only its host is shown. Not for email channels.",
    )
    addresses = forms.CharField(
        label="Email addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. Only for email channels.",
    )


class LogPageForm(forms.Form):
    before = forms.IntegerField(required=False, min_value=1)
