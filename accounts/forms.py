"""Forms: parse and validate what people type; views pass the cleaned values to services.

Key forms validate as the Venice spec says, before anything goes upstream. Bounds come from
spec/venice-account-api.yaml: a description of at most 64 characters, limits between 0 and
9999999999, the three limit periods and privacy tiers, an expiry as a date-time.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.core.validators import DecimalValidator
from django.utils import timezone

from accounts.models import AuditAction, AuditOutcome
from accounts.selectors.audit import AuditFilters, Cursor, InvalidCursor
from accounts.selectors.keys import KeyQuery, KeySort, KeyStatus
from accounts.services.billing import MAX_RANGE_DAYS, PERIOD_CHOICES, UsageFilters, UsagePeriod
from accounts.services.limits import LIMIT_SORTS
from accounts.services.rotation import replacement_expiry
from accounts.venice import (
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    Currency,
    LimitPeriod,
    ModelPrivacy,
    RateLimitType,
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


# A browser date picker; Django copies a widget into each field that uses it.
_DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# Every date a form accepts lies in this range: Venice and the portal have nothing before it,
# and a date near year 9999 overflows the day arithmetic of ranges ("to" is inclusive).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
DATE_OUT_OF_RANGE = f"Enter a date between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}."


def _check_date_in_range(value: date | datetime | None) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
        raise forms.ValidationError(DATE_OUT_OF_RANGE, code="date_out_of_range")


class BoundedDateField(forms.DateField):
    """A date within EARLIEST_DATE..LATEST_DATE, picked with the browser's date input."""

    default_validators = [_check_date_in_range]

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", _DATE_INPUT)
        super().__init__(**kwargs)


class BoundedDateTimeField(forms.DateTimeField):
    """A date and time (UTC) within EARLIEST_DATE..LATEST_DATE."""

    default_validators = [_check_date_in_range]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


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
    limit_period = forms.ChoiceField(
        label="Limit period",
        choices=LIMIT_PERIOD_CHOICES,
        initial=LimitPeriod.EPOCH.value,
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


class KeyCreateForm(_KeySettingsForm):
    field_order = [
        "description",
        "api_key_type",
        "usd_limit",
        "diem_limit",
        "limit_period",
        "model_privacy",
        "expires_at",
    ]

    api_key_type = forms.ChoiceField(
        label="Type",
        choices=KEY_TYPE_CHOICES,
        initial=APIKeyType.INFERENCE.value,
        widget=forms.RadioSelect,
    )
    # A one-time token: a second POST of the same form (a reload, a double click) finds the
    # key the first one created instead of creating another.
    submission = forms.CharField(widget=forms.HiddenInput, error_messages={"required": ""})

    def __init__(self, *args, allow_admin: bool, **kwargs):
        super().__init__(*args, **kwargs)
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

    def clean(self):
        data = super().clean()
        if "submission" in self.errors:
            # The hidden field has no place on the page: say it at the top.
            self.add_error(None, SUBMISSION_INVALID)
        return data

    def settings(self) -> dict:
        return {**super().settings(), "api_key_type": APIKeyType(self.cleaned_data["api_key_type"])}


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

    def query(self) -> KeyQuery:
        """The valid values as a query; anything missing or unknown means "all" or the default."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if value}
        sort = data.get("sort", "-created")
        return KeyQuery(
            key_type=APIKeyType(data["type"]) if "type" in data else None,
            status=KeyStatus(data["status"]) if "status" in data else None,
            search=data.get("q", "").strip(),
            sort=KeySort(sort.lstrip("-")),
            descending=sort.startswith("-"),
        )


# --- audit ---------------------------------------------------------------------------------

AUDIT_DATE_ORDER_ERROR = "The end date must be on or after the start date."
AUDIT_CURSOR_ERROR = "That page link is no longer valid; the list starts from the newest record."


class AuditFilterForm(forms.Form):
    """The audit page's filters (GET). Empty fields mean "any"; `before` is the page cursor."""

    actor = forms.CharField(
        required=False,
        max_length=150,
        label="Actor",
        help_text="Username",
        widget=forms.TextInput(attrs={"list": "audit-actors", "autocomplete": "off"}),
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditAction.choices], label="Action"
    )
    key = forms.CharField(
        required=False,
        max_length=64,
        label="Key id",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditOutcome.choices], label="Outcome"
    )
    date_from = BoundedDateField(
        required=False,
        label="From",
        widget=_DATE_INPUT,
    )
    date_to = BoundedDateField(
        required=False,
        label="To",
        widget=_DATE_INPUT,
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_actor(self):
        return self.cleaned_data["actor"].strip()

    def clean_key(self):
        return self.cleaned_data["key"].strip()

    def clean_before(self) -> Cursor | None:
        raw = self.cleaned_data["before"].strip()
        if not raw:
            return None
        try:
            return Cursor.decode(raw)
        except InvalidCursor:
            raise forms.ValidationError(AUDIT_CURSOR_ERROR) from None

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", AUDIT_DATE_ORDER_ERROR)
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"],
            action=data["action"],
            key_id=data["key"],
            outcome=data["outcome"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )


# --- Rotation ---------------------------------------------------------------------------------

GRACE_CHOICES = [
    ("now", "None: delete the old key right away"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("custom", "Until a time I choose"),
]
QUIET_PERIOD_CHOICES = [
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("24h", "24 hours"),
]
QUIET_PERIODS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "24h": timedelta(hours=24),
}
GRACE_END_REQUIRED = "Choose when the grace period ends."
GRACE_END_NOT_IN_FUTURE = "The end of the grace period must be in the future."
ABORT_CHOICE_REQUIRED = "Say whether to delete the replacement key or keep it."
NEW_EXPIRY_REQUIRED = "Choose when the new key expires."
NEW_EXPIRY_LIFETIME, NEW_EXPIRY_NEVER, NEW_EXPIRY_CUSTOM = "lifetime", "never", "custom"


class RotationForm(forms.Form):
    """How to retire the old key, and the new key's expiry.

    The new key's expiry is a choice, never a blank that silently means "never": by default
    the old key's lifetime again (`replacement_expiry`), so a key that expires is not replaced
    by one that does not unless the person says so."""

    grace = forms.ChoiceField(
        label="Keep the old key working for",
        choices=GRACE_CHOICES,
        initial="24h",
        widget=forms.RadioSelect,
        help_text="Time to move whatever uses the old key to the new one. Venice stops the old "
        "key when the grace period ends, and the portal deletes it.",
    )
    grace_ends_at = BoundedDateTimeField(
        label="Grace period ends (UTC)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text="Only for “Until a time I choose”.",
    )
    # Left out of a POST, it means the proposed default, never "no expiry".
    new_expiry = forms.ChoiceField(
        label="The new key expires", widget=forms.RadioSelect, required=False
    )
    finish_when_quiet = forms.BooleanField(
        label="Delete the old key early once it goes quiet",
        required=False,
        help_text="When the new key has been used and the old one has been idle for the time "
        "below, the portal deletes the old key without waiting for the grace period to end.",
    )
    quiet_period = forms.ChoiceField(
        label="Quiet for",
        choices=QUIET_PERIOD_CHOICES,
        initial="1h",
        required=False,
    )
    new_expires_at = BoundedDateTimeField(
        label="New key expires on (UTC)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text="Only for “On a date I choose”.",
    )

    def __init__(self, *args, key: APIKey, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.lifetime_expiry = replacement_expiry(key, now=now)
        choices = [
            (NEW_EXPIRY_NEVER, "Never"),
            (NEW_EXPIRY_CUSTOM, "On a date I choose"),
        ]
        if self.lifetime_expiry is not None:
            label = f"On {self.lifetime_expiry:%Y-%m-%d %H:%M} UTC: "
            if key.created_at is not None:
                label += f"this key's lifetime ({_days(key.expires_at - key.created_at)}) again"
            else:
                label += "when this key expires"
            choices.insert(0, (NEW_EXPIRY_LIFETIME, label))
        field = self.fields["new_expiry"]
        field.choices = choices
        field.initial = choices[0][0]
        if key.expires_at is not None:
            field.help_text = (
                f"This key expires on {key.expires_at:%Y-%m-%d %H:%M} UTC; a rotation keeps an "
                "expiry unless you choose otherwise."
            )

    def clean_new_expiry(self) -> str:
        return self.cleaned_data["new_expiry"] or self.fields["new_expiry"].initial

    def clean(self):
        data = super().clean()
        now = timezone.now()
        ends = data.get("grace_ends_at")
        if data.get("grace") == "custom":
            if ends is None and "grace_ends_at" not in self.errors:
                self.add_error("grace_ends_at", GRACE_END_REQUIRED)
            elif ends is not None and ends <= now:
                self.add_error("grace_ends_at", GRACE_END_NOT_IN_FUTURE)
        expires = data.get("new_expires_at")
        if data.get("new_expiry") == NEW_EXPIRY_CUSTOM:
            if expires is None and "new_expires_at" not in self.errors:
                self.add_error("new_expires_at", NEW_EXPIRY_REQUIRED)
            elif expires is not None and expires <= now:
                self.add_error("new_expires_at", EXPIRY_NOT_IN_FUTURE)
        return data

    def rotation_arguments(self) -> dict:
        """The cleaned values as rotation_start takes them."""
        data = self.cleaned_data
        new_expires_at = {
            NEW_EXPIRY_LIFETIME: self.lifetime_expiry,
            NEW_EXPIRY_NEVER: None,
            NEW_EXPIRY_CUSTOM: data["new_expires_at"],
        }[data["new_expiry"]]
        return {
            "grace": data["grace"],
            "grace_ends_at": data["grace_ends_at"] if data["grace"] == "custom" else None,
            "new_expires_at": new_expires_at,
            "finish_when_quiet": data["finish_when_quiet"] and data["grace"] != "now",
            "quiet_period": QUIET_PERIODS[data["quiet_period"] or "1h"],
        }


def _days(span: timedelta) -> str:
    days = round(span.total_seconds() / 86400)
    return f"{days} day{'s' if days != 1 else ''}" if days else "less than a day"


class RotationAbortForm(forms.Form):
    """Aborting after the replacement exists asks what to do with it."""

    delete_replacement = forms.ChoiceField(
        label="The replacement key",
        choices=[
            ("no", "Keep it (both keys stay)"),
            ("yes", "Delete it (anything given its secret stops working)"),
        ],
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args, has_replacement: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_replacement = has_replacement

    def clean_delete_replacement(self) -> bool:
        value = self.cleaned_data["delete_replacement"]
        if self.has_replacement and value not in ("yes", "no"):
            raise forms.ValidationError(ABORT_CHOICE_REQUIRED)
        return value == "yes"


# --- Billing and rate-limit pages: GET forms over the query string ----------------------

START_AFTER_END = "The start date must be on or before the end date."
END_IN_FUTURE = "The end date cannot be in the future."
RANGE_TOO_LONG = f"A custom range can cover at most {MAX_RANGE_DAYS} days."
START_REQUIRED = "Enter a start date for a custom range."
END_REQUIRED = "Enter an end date for a custom range."


class UsagePeriodForm(forms.Form):
    """`?period=7d|30d|90d`, or a custom range `?start=YYYY-MM-DD&end=YYYY-MM-DD`."""

    # Only ever set by the period links; anything else falls back to the default period.
    period = forms.CharField(required=False, max_length=8)
    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To")

    def clean_period(self) -> str:
        value = self.cleaned_data["period"]
        return value if value in dict(PERIOD_CHOICES) else ""

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        # A field that failed to parse already carries its error; do not pile on.
        if "start" in self.errors or "end" in self.errors:
            return data
        if start is None and end is None:
            return data
        if start is None:
            self.add_error("start", START_REQUIRED)
        if end is None:
            self.add_error("end", END_REQUIRED)
        if start is None or end is None:
            return data
        today = timezone.now().date()
        if end > today:
            self.add_error("end", END_IN_FUTURE)
        if start > end:
            self.add_error("start", START_AFTER_END)
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("start", RANGE_TOO_LONG)
        return data

    def to_period(self) -> UsagePeriod:
        """The period asked for; call after is_valid(). Falls back to the default period."""
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            return UsagePeriod(start=data["start"], end=data["end"])
        return UsagePeriod(lookback=data.get("period") or UsagePeriod().lookback)


CURRENCY_CHOICES = [("", "All currencies")] + [
    (c.value, c.value) for c in (Currency.USD, Currency.DIEM, Currency.BUNDLED_CREDITS)
]


class UsageHistoryFilterForm(forms.Form):
    """Filters of the usage history (and its CSV export). Dates are whole UTC days: `end` is
    included, so the upstream's exclusive `endTimestamp` is the next midnight."""

    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To (inclusive)")

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("start", START_AFTER_END)
        return data

    def to_filters(self) -> UsageFilters:
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        return UsageFilters(
            currency=Currency(data["currency"]) if data.get("currency") else None,
            start=_midnight(start) if start else None,
            end=_midnight(end + timedelta(days=1)) if end else None,
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class LimitsForm(forms.Form):
    """Sort order of the per-model limits, and filters of the rate-limit log (exact matches;
    the page offers the values the log holds)."""

    sort = forms.ChoiceField(choices=[(s, s) for s in LIMIT_SORTS], required=False)
    key = forms.CharField(required=False, max_length=200, label="Key")
    model = forms.CharField(required=False, max_length=200, label="Model")
    type = forms.ChoiceField(
        choices=[("", "All types")] + [(t.value, t.value) for t in RateLimitType],
        required=False,
        label="Type",
    )
