"""A user's own preferences."""

from __future__ import annotations

from django import forms

from accounts.models import TIME_ZONE_UNKNOWN, available_time_zones


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Pages and exports show times in this zone, and name it. Venice's billing "
        "days stay UTC days.",
        error_messages={"invalid_choice": TIME_ZONE_UNKNOWN},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(zone, zone) for zone in available_time_zones()]
