"""The portal's versions of django-allauth's forms (ACCOUNT_FORMS)."""

from allauth.account.forms import LoginForm


class PortalLoginForm(LoginForm):
    """allauth's login form, labelled for people who may type either name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.label = "Username or email"
        login.widget.attrs.update({"autocomplete": "username", "autofocus": True})
        login.widget.attrs.pop("placeholder", None)
        password = self.fields["password"]
        password.help_text = ""
        password.widget.attrs.pop("placeholder", None)
