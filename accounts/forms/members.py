"""Forms of the team pages: inviting, joining, changing a member's role."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_texts

from accounts.roles import ROLE_ABILITIES, ROLES

NO_ROLE = ""
PASSWORDS_DIFFER = "The two passwords differ: type the same password twice."


def _role_choices(*, with_none: bool) -> list[tuple[str, str]]:
    choices = [(role, f"{role} — {_role_summary(role)}") for role in ROLES]
    if with_none:
        choices.append((NO_ROLE, "No role — may sign in but see nothing"))
    return choices


def _role_summary(role: str) -> str:
    from accounts.roles import Ability

    abilities = ROLE_ABILITIES[role]
    if Ability.MANAGE_MEMBERS in abilities:
        return "everything, members included"
    # What every role may do goes without saying.
    everyone = (Ability.VIEW_DASHBOARD, Ability.VIEW_KEYS, Ability.VIEW_ALERTS)
    labels = [
        ability.label for ability in Ability if ability in abilities and ability not in everyone
    ]
    return "; ".join(label[0].lower() + label[1:] for label in labels)


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(
        label="Role", choices=_role_choices(with_none=False), widget=forms.RadioSelect
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(
        label="Role",
        choices=_role_choices(with_none=True),
        widget=forms.RadioSelect,
        required=False,
    )

    def role_or_none(self) -> str | None:
        return self.cleaned_data["role"] or None


class JoinForm(forms.Form):
    """What an invitee chooses: a username and a password (their email is the invited one)."""

    username = forms.CharField(
        label="Username",
        max_length=150,
        help_text="Letters, digits and @ . + - _ only; you log in with it or your email.",
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=" ".join(password_validators_help_texts()),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        field = get_user_model()._meta.get_field("username")
        for validator in field.validators:
            validator(username)
        return username

    def clean(self):
        data = super().clean()
        if (
            data.get("password1")
            and data.get("password2")
            and data["password1"] != data["password2"]
        ):
            self.add_error("password2", PASSWORDS_DIFFER)
        return data
