from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.roles import ADMINISTRATOR, ROLES


def assign_role(user, role: str) -> None:
    """Give the user exactly this role; Administrators become staff for the Django admin."""
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=ROLES))
        user.groups.add(Group.objects.get(name=role))
        user.is_staff = role == ADMINISTRATOR
        user.save(update_fields=["is_staff"])


class Command(BaseCommand):
    help = "Give a portal user one role, replacing any role it had: " + ", ".join(ROLES) + "."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", help="One of: " + ", ".join(f'"{r}"' for r in ROLES))

    def handle(self, *args, username, role, **options):
        match = {r.lower(): r for r in ROLES}.get(role.strip().lower())
        if match is None:
            raise CommandError(f'Unknown role "{role}". Choose one of: {", ".join(ROLES)}.')
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f'No user named "{username}". Create it first.') from None
        assign_role(user, match)
        self.stdout.write(f"{username} is now {match}.")
