"""The audit log's filters."""

from __future__ import annotations

from django import forms

from accounts.forms.fields import _DATE_INPUT, BoundedDateField
from accounts.models import AuditAction, AuditOutcome
from accounts.selectors.audit import AuditFilters, Cursor, InvalidCursor

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
