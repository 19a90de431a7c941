"""The rate-limit page's sort order and log filters."""

from __future__ import annotations

from django import forms

from accounts.services.limits import LIMIT_SORTS
from accounts.venice import (
    RateLimitType,
)


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
