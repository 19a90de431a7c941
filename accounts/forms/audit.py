"""The audit log's filters."""

from __future__ import annotations

from django import forms

from accounts.forms.fields import _DATE_INPUT, BoundedDateField
from accounts.models import AuditOutcome, Rotation
from accounts.presentation.audit import action_choices
from accounts.selectors.audit import AuditFilters, Cursor, InvalidCursor
from accounts.selectors.audit_keys import KeySearch, audit_keys_matching

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
    # Any of the actions ticked ("deleted or rotated"); none ticked means any action.
    action = forms.MultipleChoiceField(
        required=False,
        choices=action_choices,
        label="Actions",
        widget=forms.CheckboxSelectMultiple,
    )
    key = forms.CharField(
        required=False,
        max_length=64,
        label="Key",
        help_text="Its description (or part of it), last 6 characters or id",
        widget=forms.TextInput(
            attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    rotation = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
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

    def _chosen_action_values(self) -> set[str]:
        return set(self.data.getlist("action")) if hasattr(self.data, "getlist") else set()

    def chosen_actions(self) -> str:
        """The actions ticked, by name: "Key deleted, Rotation completed"."""
        chosen = self._chosen_action_values()
        return ", ".join(label for value, label in action_choices() if value in chosen)

    def action_options(self) -> list[tuple[str, str, bool]]:
        """(value, label, ticked) for each action. The page writes these checkboxes itself:
        Django's widget templates cost about a third of the page for its 58 options."""
        chosen = self._chosen_action_values()
        return [(value, label, value in chosen) for value, label in action_choices()]

    def key_search(self) -> KeySearch | None:
        """The keys the Key field found (None when it is empty); call after is_valid()."""
        if not hasattr(self, "_key_search"):
            text = self.cleaned_data.get("key", "")
            self._key_search = audit_keys_matching(text) if text else None
        return self._key_search

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        search = self.key_search()
        key_ids = search.key_ids if search else ()
        rotation = data.get("rotation")
        if rotation is not None:
            # A rotation's records name its old key or its new one: read them through those.
            found = Rotation.objects.filter(pk=rotation).first()
            rotation_keys = (
                tuple(k for k in (found.old_key_id, found.new_key_id) if k) if found else ()
            )
            key_ids = tuple(k for k in key_ids if k in rotation_keys) if search else rotation_keys
        return AuditFilters(
            actor=data["actor"],
            actions=tuple(data["action"]),
            # Too many keys found: none is applied, so nothing matches (the page lists a few).
            key=data["key"] if search else "",
            key_ids=key_ids,
            outcome=data["outcome"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            rotation=rotation,
        )
