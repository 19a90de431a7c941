from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import ROLES
from accounts.services.audit import audit_context_for_system
from accounts.services.members import MemberChangeRefused, member_role_change


def assign_role(user, role: str) -> bool:
    """Give the user exactly this role, as the operator ("system" in the audit log, with the
    operating-system user). Returns whether it changed; raises MemberChangeRefused when the
    rules forbid it (the last active Administrator)."""
    return member_role_change(
        context=audit_context_for_system(command="assign_role"), member=user, role=role
    )


class Command(BaseCommand):
    help = (
        "Give a portal user one role, replacing any role it had: "
        + ", ".join(ROLES)
        + ". Recorded in the audit log as made by the system."
    )

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
        try:
            changed = assign_role(user, match)
        except MemberChangeRefused as refused:
            raise CommandError(refused.message) from None
        self.stdout.write(f"{username} is now {match}." if changed else f"{username} was {match}.")
