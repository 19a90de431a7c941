"""The one way a view states who may open it."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from accounts.roles import Ability


def ability_required(ability: Ability):
    """Anonymous users go to login; users without the ability get a 403 page or fragment."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(ability.permission):
                return refuse(request, ability)
            return view(request, *args, **kwargs)

        wrapped.required_ability = ability
        return wrapped

    return decorator


def refuse(request, ability: Ability | None = None, reason: str = ""):
    """A 403 that says what was refused; HTMX requests get just the message fragment."""
    template = "403.html#refusal" if request.htmx else "403.html"
    context = {"ability": ability, "reason": reason}
    return render(request, template, context, status=403)
