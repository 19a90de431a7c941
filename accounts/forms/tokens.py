"""Making a personal access token for the API."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from accounts.forms.fields import BoundedDateField

LIFETIMES = {"30d": 30, "90d": 90, "365d": 365}
LIFETIME_CHOICES = [
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    ("365d", "In a year"),
    ("date", "On a date I choose"),
]
EXPIRY_DATE_REQUIRED = "Choose the day the token expires, or pick one of the other choices."


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=64,
        help_text="What uses it: “CI deploys”, “Terraform”. Shown in the audit log.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Role",
        widget=forms.RadioSelect,
        help_text="What the token may do: your role, or one it covers.",
    )
    lifetime = forms.ChoiceField(
        label="Expires", choices=LIFETIME_CHOICES, initial="90d", widget=forms.RadioSelect
    )
    expires_on = BoundedDateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Only for “On a date I choose”; at most a year from today.",
    )

    def __init__(self, *args, roles: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role, role) for role in roles]
        if roles:
            self.fields["role"].initial = roles[0]

    def clean(self):
        data = super().clean()
        lifetime = data.get("lifetime")
        if lifetime in LIFETIMES:
            data["expires_at"] = timezone.now() + timedelta(days=LIFETIMES[lifetime])
        elif lifetime == "date":
            day = data.get("expires_on")
            if day is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", EXPIRY_DATE_REQUIRED)
            else:
                # The end of the chosen day, in the viewer's zone.
                zone = timezone.get_current_timezone()
                data["expires_at"] = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
        return data
