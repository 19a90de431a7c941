"""The alert kinds in one table: who manages and who reads each (DESIGN.md: Administrators
all, Key managers key rules, Finance balance and spend rules, Auditors read), what each
reads from Venice, its default parameters, and the sentence that describes a rule.

Parameters (AlertRule.params; amounts are decimal text):

- balance_below: currency "USD" | "DIEM", amount. DIEM is what is left this epoch (UTC day).
- spend_above: period "day" | "month" (UTC), usd and/or diem (one at least), key_id ("" for
  the account), key_label (the key's description when chosen, for the pages).
- key_limit: thresholds (percentages, e.g. [80, 90, 100]) and a key scope.
- key_expiring: days, and a key scope.
- key_unused: days, and a key scope.
- rotation_grace: hours (the grace ends within), minutes (the old key was used within).
- rotation_failed: minutes (a step left unfinished for that long counts).
- rate_limits: count (more than this many violations in 24 h; Venice's log holds 50).
- audit_integrity: chain (verify the hash chain), drift (keys changed outside the portal).
- team_budget: thresholds (percentages of a team's monthly budget), team_id (None for every
  team with a budget) and team_label (the team's name when chosen, for the pages).

A key scope is scope "all" | "type" | "key", with key_type ("INFERENCE" | "ADMIN") or key_id
and key_label.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import AlertKind, AlertRule, AlertSystemKind
from accounts.roles import Ability

KEY, BILLING, AUDIT = "key", "billing", "audit"

# What a rule reads through the Venice client (one call each per run, whatever the rules).
NEEDS_KEYS = "keys"  # GET /api_keys
NEEDS_BALANCE = "balance"  # GET /billing/balance
NEEDS_MONTH = "usage_month"  # GET /billing/usage-analytics, 1st of the month to today
NEEDS_TODAY = "usage_today"  # GET /billing/usage-analytics, today only
NEEDS_RATE_LOG = "rate_limit_log"  # GET /api_keys/rate_limits/log


@dataclass(frozen=True)
class KindInfo:
    groups: tuple[str, ...]  # whose rules these are (any of them may manage them)
    summary: str  # what it watches, for the kind picker
    defaults: dict


KINDS: dict[str, KindInfo] = {
    AlertKind.BALANCE_BELOW: KindInfo(
        (BILLING,),
        "The USD balance, or the DIEM left this epoch, drops below an amount.",
        {"currency": "USD", "amount": "50"},
    ),
    AlertKind.SPEND_ABOVE: KindInfo(
        (BILLING,),
        "Spend in a day or a calendar month passes an amount, for the account or one key.",
        {"period": "day", "usd": "100", "diem": "", "key_id": "", "key_label": ""},
    ),
    # A consumption limit is a key's budget: a key rule, and a spend rule too, so a finance
    # lead can be told "any key passed 90 % of its limit" (DESIGN.md: Finance manages spend).
    AlertKind.KEY_LIMIT: KindInfo(
        (KEY, BILLING),
        "A key's usage this period reaches a share of its consumption limit.",
        {"thresholds": [80, 90, 100], "scope": "all", "key_type": "", "key_id": ""},
    ),
    AlertKind.KEY_EXPIRING: KindInfo(
        (KEY,),
        "A key expires within some days, and again when it has expired.",
        {"days": 7, "scope": "all", "key_type": "", "key_id": ""},
    ),
    AlertKind.KEY_UNUSED: KindInfo(
        (KEY,),
        "A key has not been used for some days (a key never used counts from its creation).",
        {"days": 30, "scope": "all", "key_type": "", "key_id": ""},
    ),
    AlertKind.ROTATION_GRACE: KindInfo(
        (KEY,),
        "A rotation's grace period ends soon while the old key is still in use.",
        {"hours": 24, "minutes": 60},
    ),
    AlertKind.ROTATION_FAILED: KindInfo(
        (KEY,),
        "A rotation failed, or a step of it was left unfinished.",
        {"minutes": 30},
    ),
    AlertKind.RATE_LIMITS: KindInfo(
        (KEY,),
        "More rate-limit violations in 24 hours than a number.",
        {"count": 10},
    ),
    AlertKind.AUDIT_INTEGRITY: KindInfo(
        (AUDIT,),
        "The audit log's hash chain does not verify, or keys changed outside the portal.",
        {"chain": True, "drift": True},
    ),
    # A team's budget is money: Finance's (and the Administrators'), read by whoever reads
    # billing.
    AlertKind.TEAM_BUDGET: KindInfo(
        (BILLING,),
        "A team's spend this calendar month reaches a share of its monthly budget.",
        {"thresholds": [80, 100], "team_id": None, "team_label": ""},
    ),
}

GROUP_MANAGE = {
    KEY: Ability.MANAGE_KEY_ALERTS,
    BILLING: Ability.MANAGE_BILLING_ALERTS,
    AUDIT: Ability.MANAGE_ALL_ALERTS,
}
# Reading a rule or a firing needs what reading its facts elsewhere needs; Auditors read all.
GROUP_READ = {KEY: Ability.VIEW_KEYS, BILLING: Ability.VIEW_BILLING, AUDIT: Ability.VIEW_AUDIT}

SYSTEM_KINDS = frozenset(AlertSystemKind.values)


def kind_groups(kind: str) -> tuple[str, ...]:
    info = KINDS.get(kind)
    return info.groups if info else ()


def may_manage_kind(user, kind: str) -> bool:
    groups = kind_groups(kind)
    if not groups:
        return False
    return user.has_perm(Ability.MANAGE_ALL_ALERTS.permission) or any(
        user.has_perm(GROUP_MANAGE[group].permission) for group in groups
    )


def may_read_kind(user, kind: str) -> bool:
    """Whether `user` may see rules and firings of this kind (the system's are for everyone
    who sees alerts)."""
    if not user.has_perm(Ability.VIEW_ALERTS.permission):
        return False
    if kind == AlertSystemKind.APPROVAL:
        # Others' change requests are the approvers'; a requester sees their own notices.
        return user.has_perm(Ability.APPROVE_CHANGES.permission)
    if kind in SYSTEM_KINDS:
        return True
    groups = kind_groups(kind)
    if not groups:
        return False
    return (
        may_manage_kind(user, kind)
        or user.has_perm(Ability.VIEW_AUDIT.permission)
        or any(user.has_perm(GROUP_READ[group].permission) for group in groups)
    )


def manageable_kinds(user) -> list[str]:
    return [kind for kind in KINDS if may_manage_kind(user, kind)]


def readable_kinds(user) -> list[str]:
    return [kind for kind in [*KINDS, *SYSTEM_KINDS] if may_read_kind(user, kind)]


def may_manage_channels(user) -> bool:
    """Adding a channel, and sending it a test: anyone who manages some alert rules."""
    return any(user.has_perm(ability.permission) for ability in GROUP_MANAGE.values())


def may_delete_channel(user, channel) -> bool:
    """Its creator, or whoever manages every rule (the channel may serve others' rules)."""
    if user.has_perm(Ability.MANAGE_ALL_ALERTS.permission):
        return True
    return may_manage_channels(user) and channel.created_by_id == user.pk


def rule_needs(rule: AlertRule) -> set[str]:
    """The reads this rule's evaluation uses."""
    params = rule.params or {}
    match rule.kind:
        case AlertKind.BALANCE_BELOW:
            return {NEEDS_BALANCE}
        case AlertKind.SPEND_ABOVE:
            if params.get("key_id") and params.get("period") == "day":
                return {NEEDS_TODAY}
            return {NEEDS_MONTH}
        case AlertKind.TEAM_BUDGET:
            return {NEEDS_MONTH}
        case AlertKind.KEY_LIMIT | AlertKind.KEY_EXPIRING | AlertKind.KEY_UNUSED:
            return {NEEDS_KEYS}
        case AlertKind.ROTATION_GRACE:
            return {NEEDS_KEYS}
        case AlertKind.RATE_LIMITS:
            return {NEEDS_RATE_LOG}
        case AlertKind.AUDIT_INTEGRITY:
            return {NEEDS_KEYS} if params.get("drift") else set()
    return set()


# --- words ------------------------------------------------------------------------------------


def money(amount, currency: str) -> str:
    value = Decimal(str(amount))
    if currency.upper() == "USD":
        return f"${value:,.2f}"
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} DIEM"


def scope_text(params: dict) -> str:
    scope = params.get("scope") or "all"
    if scope == "key":
        label = params.get("key_label") or params.get("key_id") or "one key"
        return f"key “{label}”"
    if scope == "type" and params.get("key_type"):
        return f"{params['key_type']} keys"
    return "all keys"


def describe(kind: str, params: dict) -> str:
    """One sentence a person reads in the rule list and in every message."""
    params = params or {}
    match kind:
        case AlertKind.BALANCE_BELOW:
            currency = params.get("currency", "USD")
            what = "USD balance" if currency == "USD" else "DIEM left this epoch"
            return f"{what} below {money(params.get('amount', 0), currency)}"
        case AlertKind.SPEND_ABOVE:
            amounts = [
                money(params[currency], currency.upper())
                for currency in ("usd", "diem")
                if params.get(currency) not in (None, "")
            ]
            whose = (
                f"Spend of key “{params.get('key_label') or params.get('key_id')}”"
                if params.get("key_id")
                else "Account spend"
            )
            per = "per day (UTC)" if params.get("period") == "day" else "per calendar month"
            return f"{whose} above {' or '.join(amounts)} {per}"
        case AlertKind.KEY_LIMIT:
            thresholds = ", ".join(f"{int(t)} %" for t in params.get("thresholds") or [])
            return f"Usage reaches {thresholds} of the limit, {scope_text(params)}"
        case AlertKind.KEY_EXPIRING:
            days = int(params.get("days", 0))
            return (
                f"Expiring within {days} day{'s' if days != 1 else ''}, and expired, "
                f"{scope_text(params)}"
            )
        case AlertKind.KEY_UNUSED:
            days = int(params.get("days", 0))
            return f"Unused for {days} day{'s' if days != 1 else ''}, {scope_text(params)}"
        case AlertKind.ROTATION_GRACE:
            return (
                f"A rotation's grace ends within {int(params.get('hours', 0))} h while the old "
                f"key was used in the last {int(params.get('minutes', 0))} min"
            )
        case AlertKind.ROTATION_FAILED:
            return (
                "A rotation failed, or a step of it is unfinished after "
                f"{int(params.get('minutes', 0))} min"
            )
        case AlertKind.RATE_LIMITS:
            return f"More than {int(params.get('count', 0))} rate-limit violations in 24 h"
        case AlertKind.AUDIT_INTEGRITY:
            parts = []
            if params.get("chain"):
                parts.append("the audit chain does not verify")
            if params.get("drift"):
                parts.append("keys change outside the portal")
            return (" or ".join(parts) or "nothing").capitalize()
        case AlertKind.TEAM_BUDGET:
            thresholds = ", ".join(f"{int(t)} %" for t in params.get("thresholds") or [])
            whose = (
                f"team “{params.get('team_label') or params.get('team_id')}”"
                if params.get("team_id")
                else "each team with a budget"
            )
            return (
                f"Spend of {whose} reaches {thresholds} of its monthly budget (calendar month, UTC)"
            )
    return kind
