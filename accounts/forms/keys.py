"""Key forms: create, edit, delete and filter. They validate as the Venice spec says, before
anything goes upstream: a description of at most 64 characters, limits between 0 and
9999999999, the three limit periods and privacy tiers, an expiry as a date-time."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.core.validators import DecimalValidator
from django.utils import timezone

from accounts.forms.fields import DateTimeLocalInput, _check_date_in_range, in_viewers_zone
from accounts.forms.teams import OwnershipFields, require_key_team
from accounts.selectors.keys import KeyQuery, KeySort, KeyStatus
from accounts.venice import (
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    ValidationError,
)

DESCRIPTION_MAX_LENGTH = 64
LIMIT_MAX = Decimal("9999999999")

EXPIRY_NOT_IN_FUTURE = "The expiry must be in the future."
DESCRIPTION_REQUIRED = "Give the key a description (1 to 64 characters)."
CONFIRMATION_MISMATCH = "Type the key's description exactly as shown to confirm."
SUBMISSION_INVALID = "This form is out of date. Reload the page and try again."

KEY_TYPE_CHOICES = [
    (APIKeyType.INFERENCE.value, "INFERENCE — may call inference endpoints only"),
    (APIKeyType.ADMIN.value, "ADMIN — full access to the account API"),
]
LIMIT_PERIOD_CHOICES = [
    (LimitPeriod.EPOCH.value, "Daily (EPOCH)"),
    (LimitPeriod.MONTH.value, "Monthly"),
    (LimitPeriod.LIFETIME.value, "Lifetime"),
]
MODEL_PRIVACY_CHOICES = [
    (ModelPrivacy.ALL.value, "All models"),
    (ModelPrivacy.PRIVATE_TEXT.value, "Private text and embedding models"),
    (ModelPrivacy.PRIVATE_ONLY.value, "Private models only"),
]

# Where Venice's 400 `details` name a field, the form field that shows the message.
_UPSTREAM_FIELDS = {
    "description": "description",
    "apiKeyType": "api_key_type",
    "consumptionLimit.usd": "usd_limit",
    "consumptionLimit.diem": "diem_limit",
    "consumptionLimits.usd": "usd_limit",
    "consumptionLimits.diem": "diem_limit",
    "limitPeriod": "limit_period",
    "modelPrivacy": "model_privacy",
    "expiresAt": "expires_at",
}

_SUBMISSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _limit_field(label: str) -> forms.DecimalField:
    # No decimal_places here: the places a person may type are checked only for a value they
    # changed (see _KeySettingsForm._clean_limit), so a limit set more precisely elsewhere
    # (Venice's own UI, the API) does not make the key impossible to edit.
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_value=LIMIT_MAX,
        help_text="Empty means no limit.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


# The decimals a person may type for each currency's limit.
LIMIT_DECIMAL_PLACES = {"usd_limit": 2, "diem_limit": 4}


class _KeySettingsForm(forms.Form):
    """The settings both POST and PATCH accept."""

    description = forms.CharField(
        max_length=DESCRIPTION_MAX_LENGTH,
        error_messages={"required": DESCRIPTION_REQUIRED},
        help_text="1 to 64 characters; shown in lists and usage reports.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    usd_limit = _limit_field("USD limit")
    diem_limit = _limit_field("DIEM limit")
    # Monthly by default: budgets, invoices and Billing's "This month" are monthly, and most
    # keys people set a limit on are budgeted that way.
    limit_period = forms.ChoiceField(
        label="Limit period",
        choices=LIMIT_PERIOD_CHOICES,
        initial=LimitPeriod.MONTH.value,
        help_text="Limits reset every UTC day, on the 1st of each month, or never.",
    )
    model_privacy = forms.ChoiceField(
        label="Model privacy",
        choices=MODEL_PRIVACY_CHOICES,
        initial=ModelPrivacy.ALL.value,
        help_text="Which models the key may call, by privacy tier.",
    )
    # Range-checked in clean_expires_at, only when changed: a key may already hold any expiry.
    expires_at = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text="Empty means the key never expires.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        in_viewers_zone(self.fields["expires_at"], "Expires")

    def clean_usd_limit(self):
        return self._clean_limit("usd_limit")

    def clean_diem_limit(self):
        return self._clean_limit("diem_limit")

    def _clean_limit(self, name: str):
        value = self.cleaned_data[name]
        if value is not None and name in self.changed_data:
            DecimalValidator(max_digits=None, decimal_places=LIMIT_DECIMAL_PLACES[name])(value)
        return value

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        if value is not None and "expires_at" in self.changed_data:
            _check_date_in_range(value)
            if value <= timezone.now():
                raise forms.ValidationError(EXPIRY_NOT_IN_FUTURE)
        return value

    def settings(self) -> dict:
        """The cleaned values as the key services take them."""
        data = self.cleaned_data
        return {
            "description": data["description"],
            "consumption_limits": ConsumptionLimits(usd=data["usd_limit"], diem=data["diem_limit"]),
            "limit_period": LimitPeriod(data["limit_period"]),
            "model_privacy": ModelPrivacy(data["model_privacy"]),
            "expires_at": data["expires_at"],
        }

    def add_upstream_errors(self, error: ValidationError) -> None:
        """Put the messages of Venice's 400 next to the fields they name."""
        for path, messages in _flatten_details(error.details):
            field = _UPSTREAM_FIELDS.get(path) or _UPSTREAM_FIELDS.get(path.split(".")[0])
            if field not in self.fields:
                field = None
            for message in messages:
                self.add_error(field, message)


def _flatten_details(details, prefix: str = ""):
    """Yield (dotted field path, messages) from Venice's `details` (zod's format)."""
    if not isinstance(details, dict):
        if details:
            yield prefix, [str(message) for message in _as_list(details)]
        return
    for name, value in details.items():
        if name == "_errors":
            messages = [str(message) for message in _as_list(value)]
            if messages:
                yield prefix, messages
            continue
        yield from _flatten_details(value, f"{prefix}.{name}" if prefix else name)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


EXPIRY_DAYS = {"7d": 7, "30d": 30, "90d": 90}
EXPIRY_DATE, EXPIRY_NEVER = "date", "never"
EXPIRY_CHOICES = [
    ("7d", "In 7 days"),
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    (EXPIRY_DATE, "On a date I choose"),
    (EXPIRY_NEVER, "Never"),
]
# 90 days: the age `finish_rotations --older-than 90d` flags a key for rotation at.
DEFAULT_EXPIRY = "90d"
EXPIRY_DATE_REQUIRED = "Choose when the key expires, or pick one of the other choices."


class KeyCreateForm(_KeySettingsForm, OwnershipFields):
    field_order = [
        "description",
        "team",
        "owner",
        "owner_contact",
        "api_key_type",
        "usd_limit",
        "diem_limit",
        "limit_period",
        "model_privacy",
        "expiry",
        "expires_at",
    ]

    # As GitHub and OpenAI offer it: a lifetime, a date, or never. A POST without it (a
    # script) means what it meant before: the date given, or never.
    expiry = forms.ChoiceField(
        label="The key expires",
        choices=EXPIRY_CHOICES,
        initial=DEFAULT_EXPIRY,
        required=False,
        widget=forms.RadioSelect,
        help_text="Venice refuses the key from then on. 90 days by default, the age at which "
        "the portal's rotation policy flags a key.",
    )

    api_key_type = forms.ChoiceField(
        label="Type",
        choices=KEY_TYPE_CHOICES,
        initial=APIKeyType.INFERENCE.value,
        widget=forms.RadioSelect,
    )
    # A one-time token: a second POST of the same form (a reload, a double click) finds the
    # key the first one created instead of creating another.
    submission = forms.CharField(widget=forms.HiddenInput, error_messages={"required": ""})

    def __init__(self, *args, allow_admin: bool, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_ownership(user, require_team=require_key_team())
        in_viewers_zone(self.fields["expires_at"], "Expires on")
        self.fields["expires_at"].help_text = "Only for “On a date I choose”."
        self.allow_admin = allow_admin
        if not allow_admin:
            self.fields["api_key_type"].choices = KEY_TYPE_CHOICES[:1]
            self.fields["api_key_type"].help_text = "Only Administrators may create ADMIN keys."
        if not self.is_bound:
            self.initial.setdefault("submission", secrets.token_urlsafe(18))

    def clean_submission(self):
        value = self.cleaned_data["submission"]
        if not _SUBMISSION_TOKEN.match(value):
            raise forms.ValidationError(SUBMISSION_INVALID)
        return value

    def _expiry_choice(self) -> str:
        chosen = self.data.get("expiry") if self.is_bound else DEFAULT_EXPIRY
        if chosen:
            return chosen
        return EXPIRY_DATE if self.data.get("expires_at") else EXPIRY_NEVER

    def clean_expires_at(self):
        # A date left in the box while another choice is ticked is not used, nor judged.
        if self._expiry_choice() != EXPIRY_DATE:
            return None
        return super().clean_expires_at()

    def clean(self):
        data = super().clean()
        if "submission" in self.errors:
            # The hidden field has no place on the page: say it at the top.
            self.add_error(None, SUBMISSION_INVALID)
        choice = self._expiry_choice()
        data["expiry"] = choice
        if choice in EXPIRY_DAYS:
            now = timezone.now().replace(second=0, microsecond=0)
            data["expires_at"] = now + timedelta(days=EXPIRY_DAYS[choice])
        elif choice == EXPIRY_DATE and data.get("expires_at") is None:
            if "expires_at" not in self.errors:
                self.add_error("expires_at", EXPIRY_DATE_REQUIRED)
        elif choice == EXPIRY_NEVER:
            data["expires_at"] = None
        return data

    def settings(self) -> dict:
        settings = {
            **super().settings(),
            "api_key_type": APIKeyType(self.cleaned_data["api_key_type"]),
        }
        assignment = self.assignment()
        if assignment.team or assignment.owner or assignment.owner_contact:
            settings.update(assignment.as_payload())
        return settings


class KeyEditForm(_KeySettingsForm):
    """PATCH's fields, prefilled from the key; `changes()` holds only what the user changed."""

    def __init__(self, *args, key: APIKey, **kwargs):
        initial = {
            "description": key.description,
            "usd_limit": key.consumption_limits.usd,
            "diem_limit": key.consumption_limits.diem,
            "limit_period": key.limit_period.value,
            "model_privacy": key.model_privacy.value,
            # The input holds minutes: compare at that precision, or every save would move
            # the expiry by the seconds the input cannot show.
            "expires_at": _to_minute(key.expires_at),
        }
        super().__init__(*args, initial=initial, **kwargs)
        # The form posts back the values it showed, so a change is measured against what
        # this person saw, not against the key as it is now: a field someone else changed
        # in the meantime, and this person left alone, is not sent back over theirs.
        for field in self.fields.values():
            field.show_hidden_initial = True
        self.key = key

    def changes(self) -> dict:
        """The service's keyword arguments for the fields the user changed."""
        changed = set(self.changed_data)
        settings = self.settings()
        changes = {
            name: settings[name]
            for name in ("description", "limit_period", "model_privacy", "expires_at")
            if name in changed
        }
        if changed & {"usd_limit", "diem_limit"}:
            current = self.key.consumption_limits
            wanted = settings["consumption_limits"]
            changes["consumption_limits"] = ConsumptionLimits(
                usd=wanted.usd if "usd_limit" in changed else current.usd,
                diem=wanted.diem if "diem_limit" in changed else current.diem,
            )
        return changes


def _to_minute(value):
    return value.replace(second=0, microsecond=0) if value is not None else None


class KeyDeleteForm(forms.Form):
    """Deleting an ADMIN key asks for its description, typed: a pause before a big step."""

    confirm_description = forms.CharField(
        label="Type the key's description to confirm", required=False, strip=False
    )

    def __init__(self, *args, key: APIKey, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key
        if not key.is_admin:
            del self.fields["confirm_description"]
        else:
            field = self.fields["confirm_description"]
            field.widget.attrs["autocomplete"] = "off"
            field.help_text = f"This is an ADMIN key: type “{key.description}” to confirm."

    def clean_confirm_description(self):
        value = self.cleaned_data["confirm_description"]
        if value.strip() != self.key.description.strip():
            raise forms.ValidationError(CONFIRMATION_MISMATCH)
        return value


class KeyFilterForm(forms.Form):
    """The list's filters. Unknown values fall back to "all" rather than failing the page."""

    type = forms.ChoiceField(
        label="Type",
        required=False,
        choices=[("", "All types"), ("INFERENCE", "INFERENCE"), ("ADMIN", "ADMIN")],
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Any status"),
            ("active", "Active"),
            ("expiring", "Expiring within 14 days"),
            ("expired", "Expired"),
            ("unused", "Unused for 30+ days"),
            ("unlimited", "No consumption limit"),
        ],
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Description or last 6", "autocomplete": "off"}
        ),
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            ("-created", "Newest first"),
            ("created", "Oldest first"),
            ("-last_used", "Recently used"),
            ("last_used", "Least recently used"),
            ("expires", "Expiring soonest"),
            ("-expires", "Expiring latest"),
        ],
    )

    team = forms.ChoiceField(label="Team", required=False, choices=())
    owner = forms.ChoiceField(label="Owner", required=False, choices=())
    group = forms.ChoiceField(
        label="Group by",
        required=False,
        choices=[("", "No grouping"), ("team", "Team"), ("owner", "Owner")],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.models import KeyOwnership, Team
        from accounts.selectors.keys import NO_OWNER, NO_TEAM

        self.fields["team"].choices = [
            ("", "Any team"),
            (NO_TEAM, "No team"),
            *Team.objects.order_by("name").values_list("slug", "name"),
        ]
        owners = set()
        for row in KeyOwnership.objects.select_related("owner"):
            if row.owner is not None:
                owners.add((row.owner.get_username(), row.owner_label))
            elif row.owner_contact:
                owners.add((row.owner_contact, row.owner_contact))
        self.fields["owner"].choices = [
            ("", "Any owner"),
            (NO_OWNER, "No owner"),
            *sorted(owners, key=lambda pair: pair[1].casefold()),
        ]

    def query(self) -> KeyQuery:
        """The valid values as a query; anything missing or unknown means "all" or the default."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if value}
        sort = data.get("sort", "-created")
        return KeyQuery(
            team=data.get("team", ""),
            owner=data.get("owner", ""),
            key_type=APIKeyType(data["type"]) if "type" in data else None,
            status=KeyStatus(data["status"]) if "status" in data else None,
            search=data.get("q", "").strip(),
            sort=KeySort(sort.lstrip("-")),
            descending=sort.startswith("-"),
        )
