import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.management.commands.assign_role import assign_role
from accounts.models import AlertRule
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from accounts.sandbox import get_sandbox
from accounts.services.alerts import alert_rules_starter
from accounts.services.audit import audit_context_for_command

DEMO_USERS = (
    ("admin", "Ada", ADMINISTRATOR),
    ("keymanager", "Kim", KEY_MANAGER),
    ("finance", "Fran", FINANCE),
    ("auditor", "Aud", AUDITOR),
)


class Command(BaseCommand):
    help = (
        "Create one demo user per role. New users get a generated password, printed once "
        "(or DEMO_PASSWORD when set); existing users keep theirs unless --reset-passwords. "
        "In sandbox mode (no VENICE_API_KEY), also make sure the sandbox account exists in "
        "its state file (seeded once; `venice_sandbox --reset` starts it over). With no alert "
        "rules yet, add the starter set, emailing the demo Administrator."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give existing demo users new passwords too.",
        )

    def handle(self, *args, reset_passwords=False, **options):
        User = get_user_model()
        fixed_password = os.environ.get("DEMO_PASSWORD", "")
        self.stdout.write("Demo logins (http://127.0.0.1:8000/accounts/login/):")
        users = {}
        for username, first_name, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "email": f"{username}@example.com"},
            )
            assign_role(user, role)
            users[role] = user
            if created or reset_passwords or fixed_password:
                password = fixed_password or secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
                shown = password
            else:
                shown = "(unchanged; run seed_demo --reset-passwords for a new one)"
            self.stdout.write(f"  {role:<14} {username:<11} {shown}")
        self.stdout.write(f"{len(DEMO_USERS)} demo users ready.")
        if settings.PORTAL_REQUIRE_MFA:
            self.stdout.write(
                f"{', '.join(settings.PORTAL_REQUIRE_MFA)} set up a second factor at their first "
                "login (PORTAL_REQUIRE_MFA; empty it to skip that in a demo)."
            )
        if settings.VENICE_SANDBOX:
            self._ensure_sandbox()
        self._starter_alerts(users[ADMINISTRATOR])

    def _starter_alerts(self, administrator):
        if AlertRule.objects.exists():
            return
        made = alert_rules_starter(
            context=audit_context_for_command(command="seed_demo"), notify=[administrator]
        )
        self.stdout.write(
            f"{len(made)} starter alert rules tell {administrator.username} "
            f"({administrator.email}) by email and in the portal; "
            "`manage.py check_alerts` checks them (cron: every 5 minutes)."
        )

    def _ensure_sandbox(self):
        sandbox = get_sandbox()  # loads the state file, or seeds and saves it
        where = sandbox.state_file or "memory only (VENICE_SANDBOX_STATE_FILE is empty)"
        self.stdout.write(
            f"Venice sandbox account (seed {sandbox.seed}, "
            f"{len(sandbox.key_ids(include_expired=False))} active keys) kept in {where}."
        )
