"""Looking up the portal user a management command acts as."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def active_user(username: str):
    """The active user of that name, or a CommandError that names it."""
    User = get_user_model()
    try:
        return User.objects.get(username=username, is_active=True)
    except User.DoesNotExist:
        raise CommandError(f'No active user named "{username}".') from None
