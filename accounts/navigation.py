"""The navigation bar: each entry shows only to roles holding its ability."""

from dataclasses import dataclass

from django.urls import reverse

from accounts.roles import Ability


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    ability: Ability


NAV_ITEMS = (
    NavItem("Dashboard", "dashboard", Ability.VIEW_DASHBOARD),
    NavItem("API keys", "keys:list", Ability.VIEW_KEYS),
    NavItem("Billing", "billing:overview", Ability.VIEW_BILLING),
    NavItem("Teams", "teams:list", Ability.VIEW_TEAMS),
    NavItem("Rate limits", "limits:overview", Ability.VIEW_LIMITS),
    NavItem("Audit", "audit:list", Ability.VIEW_AUDIT),
    NavItem("Approvals", "approvals:list", Ability.VIEW_CHANGE_REQUESTS),
    NavItem("Alerts", "alerts:rules", Ability.VIEW_ALERTS),
    NavItem("Users", "team:list", Ability.MANAGE_MEMBERS),
)


def nav_for(request) -> list[dict]:
    user = request.user
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = []
    for item in NAV_ITEMS:
        if user.has_perm(item.ability.permission):
            namespace = item.url_name.split(":")[0]
            items.append(
                {
                    "label": item.label,
                    "url": reverse(item.url_name),
                    "active": current == item.url_name or current.startswith(f"{namespace}:"),
                }
            )
    return items
