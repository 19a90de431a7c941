"""The portal's roles and what each may do: the one table every check reads.

A role is a Django group holding the permissions of its abilities; every view names the
ability it needs (see accounts/access.py). Changing this table and running `migrate` updates
the groups.
"""

from enum import StrEnum


class Ability(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_KEYS = "view_keys"
    MANAGE_INFERENCE_KEYS = "manage_inference_keys"
    MANAGE_ADMIN_KEYS = "manage_admin_keys"
    VIEW_BILLING = "view_billing"
    VIEW_LIMITS = "view_limits"
    VIEW_AUDIT = "view_audit"
    MANAGE_MEMBERS = "manage_members"
    VIEW_POLICIES = "view_policies"
    MANAGE_POLICIES = "manage_policies"
    VIEW_CHANGE_REQUESTS = "view_change_requests"
    APPROVE_CHANGES = "approve_changes"
    VIEW_ALERTS = "view_alerts"
    MANAGE_KEY_ALERTS = "manage_key_alerts"
    MANAGE_BILLING_ALERTS = "manage_billing_alerts"
    MANAGE_ALL_ALERTS = "manage_all_alerts"
    VIEW_TEAMS = "view_teams"
    MANAGE_TEAMS = "manage_teams"
    ASSIGN_KEYS = "assign_keys"
    ADOPT_KEYS = "adopt_keys"

    @property
    def permission(self) -> str:
        return f"accounts.{self.value}"

    @property
    def label(self) -> str:
        return ABILITY_LABELS[self]


ABILITY_LABELS = {
    Ability.VIEW_DASHBOARD: "See the dashboard",
    Ability.VIEW_KEYS: "List and open API keys",
    Ability.MANAGE_INFERENCE_KEYS: "Create, edit, rotate and delete INFERENCE keys",
    Ability.MANAGE_ADMIN_KEYS: "Create, edit, rotate and delete ADMIN keys",
    Ability.VIEW_BILLING: "See balances, usage and costs; export usage CSV",
    Ability.VIEW_LIMITS: "See rate limits and their log",
    Ability.VIEW_AUDIT: "Read and export the audit log",
    Ability.MANAGE_MEMBERS: "Invite members, change their roles, sessions and second factors",
    Ability.VIEW_POLICIES: "Read the key policies",
    Ability.MANAGE_POLICIES: "Change the key policies",
    Ability.VIEW_CHANGE_REQUESTS: "See change requests (a Key manager: their own)",
    Ability.APPROVE_CHANGES: "Approve or reject other people's change requests",
    Ability.VIEW_ALERTS: "See alert rules, their notifications and the notification log",
    Ability.MANAGE_KEY_ALERTS: "Manage alert rules about keys, rotations and rate limits",
    Ability.MANAGE_BILLING_ALERTS: "Manage alert rules about balances and spend",
    Ability.MANAGE_ALL_ALERTS: "Manage every alert rule and channel, audit integrity included",
    Ability.VIEW_TEAMS: "See teams, their keys, members and budgets",
    Ability.MANAGE_TEAMS: "Create and change teams, their members and budgets",
    Ability.ASSIGN_KEYS: "Set a key's team and owner (a scoped Key manager: within their teams)",
    Ability.ADOPT_KEYS: "Adopt the account's existing keys into the audit baseline",
}

ADMINISTRATOR = "Administrator"
KEY_MANAGER = "Key manager"
FINANCE = "Finance"
AUDITOR = "Auditor"

ROLE_ABILITIES: dict[str, frozenset[Ability]] = {
    ADMINISTRATOR: frozenset(Ability),
    KEY_MANAGER: frozenset(
        {
            Ability.VIEW_DASHBOARD,
            Ability.VIEW_KEYS,
            Ability.MANAGE_INFERENCE_KEYS,
            Ability.VIEW_LIMITS,
            Ability.VIEW_POLICIES,
            Ability.VIEW_CHANGE_REQUESTS,
            Ability.VIEW_ALERTS,
            Ability.MANAGE_KEY_ALERTS,
            Ability.VIEW_TEAMS,
            Ability.ASSIGN_KEYS,
        }
    ),
    FINANCE: frozenset(
        {
            Ability.VIEW_DASHBOARD,
            Ability.VIEW_KEYS,
            Ability.VIEW_BILLING,
            Ability.VIEW_LIMITS,
            Ability.VIEW_POLICIES,
            Ability.VIEW_ALERTS,
            Ability.MANAGE_BILLING_ALERTS,
            Ability.VIEW_TEAMS,
        }
    ),
    AUDITOR: frozenset(
        {
            Ability.VIEW_DASHBOARD,
            Ability.VIEW_KEYS,
            Ability.VIEW_AUDIT,
            Ability.VIEW_POLICIES,
            Ability.VIEW_CHANGE_REQUESTS,
            Ability.VIEW_ALERTS,
            Ability.VIEW_TEAMS,
        }
    ),
}
ROLES = tuple(ROLE_ABILITIES)

# Administrators manage portal users and roles in the Django admin (and read audit records
# there); they are staff, with these model permissions.
ADMINISTRATOR_ADMIN_SITE_PERMISSIONS = (
    ("auth", "user", ("view", "add", "change", "delete")),
    ("auth", "group", ("view",)),
    ("accounts", "auditevent", ("view",)),
)


def role_of(user) -> str | None:
    """The user's portal role, or None. A user holds at most one role (see assign_role)."""
    if not user.is_authenticated:
        return None
    names = {group.name for group in user.groups.all()}
    for role in ROLES:
        if role in names:
            return role
    return None


def sync_role_groups(apps) -> None:
    """Create or update the role groups and their permissions; safe to run repeatedly."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    ability_type, _ = ContentType.objects.get_or_create(app_label="accounts", model="portalaccess")
    ability_perms = {}
    for ability in Ability:
        perm, _ = Permission.objects.get_or_create(
            content_type=ability_type,
            codename=ability.value,
            defaults={"name": ABILITY_LABELS[ability]},
        )
        ability_perms[ability] = perm

    admin_site_perms = []
    for app_label, model, actions in ADMINISTRATOR_ADMIN_SITE_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        for action in actions:
            perm, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {model}"},
            )
            admin_site_perms.append(perm)

    for role, abilities in ROLE_ABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = [ability_perms[ability] for ability in abilities]
        if role == ADMINISTRATOR:
            perms += admin_site_perms
        group.permissions.set(perms)
