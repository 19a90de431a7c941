"""Team forms: a team and its budgets, its members, a key's team and owner (one key, several
at once, or on create), a Key manager's scope, and adopting the account's keys."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from accounts.models import Team
from accounts.services.key_ownership import (
    NEW_KEY_OUTSIDE_SCOPE,
    ONE_OWNER,
    TEAM_REQUIRED,
    Assignment,
    teams_assignable_by,
)

BUDGET_MAX = Decimal("9999999999")
SLUG_TAKEN = "Another team already has this short name."
SLUG_RESERVED = "“new”, “unassigned” and “web-app” are taken by the portal; choose another."
RESERVED_SLUGS = {"new", "unassigned", "web-app"}
NAME_TAKEN = "Another team already has this name."
NO_KEYS_CHOSEN = "Tick at least one key to assign."
PATTERN_INVALID = "Write one “pattern = team” per line, e.g. “data-* = data”."
PATTERN_UNKNOWN_TEAM = "Line {line}: there is no team “{team}”."


def _budget(label: str, places: int) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_value=BUDGET_MAX,
        decimal_places=places,
        help_text="Per calendar month; empty means no budget.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


class TeamForm(forms.ModelForm):
    budget_usd = _budget("Monthly budget in USD", 2)
    budget_diem = _budget("Monthly budget in DIEM", 4)

    class Meta:
        model = Team
        fields = ["name", "slug", "budget_usd", "budget_diem"]
        labels = {"slug": "Short name"}
        help_texts = {
            "name": "As finance and the team call it.",
            "slug": "Letters, digits and hyphens; in the team's address and in exports. "
            "Empty: made from the name.",
        }
        error_messages = {
            "name": {"unique": NAME_TAKEN},
            "slug": {"unique": SLUG_TAKEN},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.data.get("name", ""))[:80]
        if not slug:
            raise forms.ValidationError("Give the team a short name (letters and digits).")
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(SLUG_RESERVED)
        clash = Team.objects.filter(slug=slug).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(SLUG_TAKEN)
        return slug

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


def _members():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class _MemberChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class TeamMemberForm(forms.Form):
    user = _MemberChoice(label="Member", queryset=_members(), empty_label="Choose a member")

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _members().exclude(team_memberships__team=team)


class OwnershipFields(forms.Form):
    """A key's team and owner: a member, or a contact for a service (not both)."""

    team = forms.ModelChoiceField(
        label="Team", queryset=Team.objects.none(), required=False, empty_label="No team"
    )
    owner = _MemberChoice(
        label="Owner", queryset=_members(), required=False, empty_label="No member"
    )
    owner_contact = forms.CharField(
        label="…or a contact",
        max_length=120,
        required=False,
        help_text="For a service with no portal member: a team mailbox, an on-call alias.",
    )

    def setup_ownership(self, user, *, require_team: bool = False) -> None:
        """Offer the teams `user` may assign to; a scoped Key manager must choose one."""
        from accounts.services.key_ownership import key_manager_is_scoped

        self.fields["team"].queryset = teams_assignable_by(user)
        self.fields["owner"].queryset = _members()
        scoped = key_manager_is_scoped(user)
        if require_team or scoped:
            field = self.fields["team"]
            field.required = True
            field.empty_label = None if field.queryset else "No team"
            message = NEW_KEY_OUTSIDE_SCOPE if scoped else TEAM_REQUIRED
            field.error_messages = {**field.error_messages, "required": message}
            if scoped:
                field.error_messages["invalid_choice"] = NEW_KEY_OUTSIDE_SCOPE

    def clean(self):
        data = super().clean()
        if data.get("owner") is not None and (data.get("owner_contact") or "").strip():
            self.add_error("owner_contact", ONE_OWNER)
        return data

    def assignment(self) -> Assignment:
        data = self.cleaned_data
        return Assignment(
            team=data.get("team"),
            owner=data.get("owner"),
            owner_contact=(data.get("owner_contact") or "").strip(),
        )


class KeyAssignForm(OwnershipFields):
    def __init__(self, *args, user, ownership=None, **kwargs):
        initial = kwargs.pop("initial", {}) or {}
        if ownership is not None:
            initial.update(
                team=ownership.team_id,
                owner=ownership.owner_id,
                owner_contact=ownership.owner_contact,
            )
        super().__init__(*args, initial=initial, **kwargs)
        self.setup_ownership(user)
        # Assigning may also clear the team; only a new key must have one.
        self.fields["team"].required = False


class BulkAssignForm(OwnershipFields):
    """On the key list, beside its filters (which have a team and an owner too): prefixed, so
    its fields have names and ids of their own (`assign-team`, `assign-keys`)."""

    prefix = "assign"
    keys = forms.MultipleChoiceField(
        label="Keys", choices=(), error_messages={"required": NO_KEYS_CHOSEN}
    )

    def __init__(self, *args, user, key_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_ownership(user)
        self.fields["team"].required = False
        self.fields["keys"].choices = key_choices
        # A bar of fields in a row: the contact's explanation is on the key's own page.
        self.fields["owner_contact"].help_text = ""


class KeyScopeForm(forms.Form):
    scoped = forms.BooleanField(
        label="Only their teams' keys",
        required=False,
        help_text="They still see every key, but may create, change, rotate and delete only "
        "the keys of their teams.",
    )


class AdoptForm(forms.Form):
    """Adopt every key never recorded as created; optionally give teams by description."""

    patterns = forms.CharField(
        label="Teams by description (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "data-* = data\n*staging* = web"}),
        help_text="One “pattern = team short name” per line; * matches anything, case "
        "ignored. The first matching line wins; a key no line matches keeps no team.",
    )

    def clean_patterns(self) -> list[tuple[str, Team]]:
        rules = []
        teams = {team.slug: team for team in Team.objects.all()}
        for number, line in enumerate(self.cleaned_data["patterns"].splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            pattern, sep, slug = line.rpartition("=")
            pattern, slug = pattern.strip(), slug.strip()
            if not sep or not pattern or not slug:
                raise forms.ValidationError(PATTERN_INVALID)
            if slug not in teams:
                raise forms.ValidationError(PATTERN_UNKNOWN_TEAM.format(line=number, team=slug))
            rules.append((pattern, teams[slug]))
        return rules


def pattern_matches(pattern: str, text: str) -> bool:
    """A description pattern: * for anything, everything else literal, case ignored."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, flags=re.IGNORECASE) is not None


def require_key_team() -> bool:
    return bool(settings.PORTAL_REQUIRE_KEY_TEAM)
