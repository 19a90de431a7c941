"""The one way a view states who may open it."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from accounts.roles import ADMINISTRATOR, Ability, role_of


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
    """A 403 that says what was refused and whom to ask (the Administrators, by name); HTMX
    requests get just the message fragment. A member with no role at all is told that, and
    offered to log out, not sent "back" to a dashboard that would refuse them too."""
    template = "403.html#refusal" if request.htmx else "403.html"
    context = {
        "ability": ability,
        "reason": reason,
        "no_role": request.user.is_authenticated and role_of(request.user) is None,
        "administrators": administrator_names(),
    }
    return render(request, template, context, status=403)


def administrator_names(limit: int = 5) -> list[str]:
    """Whom to ask for access: the active Administrators' names (never their addresses)."""
    from django.contrib.auth import get_user_model

    admins = get_user_model().objects.filter(is_active=True, groups__name=ADMINISTRATOR)
    return [user.get_full_name() or user.get_username() for user in admins[:limit]]
