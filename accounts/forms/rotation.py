"""Rotating a key: how to retire the old one, the new one's expiry, and aborting."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from accounts.forms.fields import BoundedDateTimeField, DateTimeLocalInput, in_viewers_zone
from accounts.forms.keys import EXPIRY_NOT_IN_FUTURE
from accounts.presentation import dates
from accounts.services.rotation import replacement_expiry
from accounts.venice import (
    APIKey,
)

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
        in_viewers_zone(self.fields["grace_ends_at"], "Grace period ends")
        in_viewers_zone(self.fields["new_expires_at"], "New key expires on")
        self.lifetime_expiry = replacement_expiry(key, now=now)
        choices = [
            (NEW_EXPIRY_NEVER, "Never"),
            (NEW_EXPIRY_CUSTOM, "On a date I choose"),
        ]
        if self.lifetime_expiry is not None:
            label = f"On {dates.prose(self.lifetime_expiry)}: "
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
                f"This key expires on {dates.prose(key.expires_at)}; a rotation keeps an "
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
