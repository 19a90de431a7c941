"""The key policies form."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from accounts.models import KeyPolicy
from accounts.services.policies import POLICY_FIELDS


def _amount(label: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=4,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


class PolicyForm(forms.Form):
    inference_max_expiry_days = forms.IntegerField(
        label="New INFERENCE keys expire within (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: no rule. A new key without an expiry, or a later one, is refused.",
    )
    inference_require_limit = forms.BooleanField(
        label="New INFERENCE keys must have a USD or DIEM limit", required=False
    )
    inference_limit_usd_max = _amount(
        "… and a USD limit above this (per period) needs approval", "Empty: any limit."
    )
    inference_limit_diem_max = _amount(
        "… and a DIEM limit above this (per period) needs approval", "Empty: any limit."
    )
    admin_keys_need_approval = forms.BooleanField(
        label="Creating, changing, rotating or deleting an ADMIN key needs approval",
        required=False,
    )
    recent_use_hours = forms.IntegerField(
        label="A key counts as in use when it was used within (hours)",
        min_value=1,
        max_value=24 * 90,
    )
    delete_in_use_needs_approval = forms.BooleanField(
        label="Deleting a key in use needs approval", required=False
    )
    rotate_now_in_use_needs_approval = forms.BooleanField(
        label="Rotating a key in use without a grace period needs approval", required=False
    )
    limit_raise_usd_threshold = _amount(
        "Raising a USD limit above this needs approval", "Empty: no rule."
    )
    limit_raise_diem_threshold = _amount(
        "Raising a DIEM limit above this needs approval", "Empty: no rule."
    )
    removing_limit_or_expiry_needs_approval = forms.BooleanField(
        label="Removing a key's limit or expiry needs approval", required=False
    )

    def __init__(self, *args, instance: KeyPolicy, disabled: bool = False, **kwargs):
        initial = {name: getattr(instance, name) for name in POLICY_FIELDS}
        super().__init__(*args, initial=initial, **kwargs)
        if disabled:
            for field in self.fields.values():
                field.disabled = True

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in POLICY_FIELDS}
