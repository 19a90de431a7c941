"""Key policies: which key changes go straight through, which need a second Administrator,
and which are refused outright, each naming the policy that says so.

The key services (keys.py, rotation.py) ask `policy_check_*` before every change; a change
bound to approval raises `ApprovalRequired` unless it is the execution of an approved change
request (approvals.py). Editing the policies is an audit record on the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditAction, KeyPolicy
from accounts.roles import Ability
from accounts.services.audit import AuditContext, audit_log
from accounts.venice import APIKey, APIKeyType, ConsumptionLimits

POLICIES_REFUSED = "Only Administrators may change the key policies."

# The policies, by name: what the forms, errors and change requests call them.
EXPIRY_REQUIRED = "Inference keys expire within {days} days"
LIMIT_REQUIRED = "Inference keys have a consumption limit"
LIMIT_CEILING = "Inference key limits above {ceiling} need approval"
ADMIN_KEYS = "ADMIN keys need approval"
DELETE_IN_USE = "Deleting a key used in the last {hours} hours needs approval"
ROTATE_NOW_IN_USE = "Rotating a key used in the last {hours} hours without grace needs approval"
LIMIT_RAISE = "Raising a limit above {ceiling} needs approval"
REMOVING_GUARDS = "Removing a key's limit or expiry needs approval"


@dataclass(frozen=True)
class PolicyHit:
    policy: str  # its name, e.g. "ADMIN keys need approval"
    why: str  # this change's part in it, e.g. "the key was used 3 hours ago"

    def __str__(self) -> str:
        return f"{self.policy}: {self.why}"


@dataclass(frozen=True)
class PolicyDecision:
    forbidden: tuple[PolicyHit, ...] = ()
    needs_approval: tuple[PolicyHit, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.forbidden and not self.needs_approval

    @property
    def policy_names(self) -> list[str]:
        return [hit.policy for hit in self.needs_approval]


class PolicyForbids(Exception):
    """A change a policy refuses outright (no approval makes it possible)."""

    def __init__(self, hits: tuple[PolicyHit, ...]):
        self.hits = hits
        self.message = "Refused by policy: " + "; ".join(str(hit) for hit in hits) + "."
        super().__init__(self.message)


class ApprovalRequired(Exception):
    """A change that a second Administrator must approve: not sent to Venice."""

    def __init__(self, hits: tuple[PolicyHit, ...]):
        self.hits = hits
        self.message = (
            "This change needs a second Administrator's approval ("
            + "; ".join(str(hit) for hit in hits)
            + "). Give a reason, and it waits for one in Approvals."
        )
        super().__init__(self.message)


def enforce(decision: PolicyDecision, *, approved: bool) -> None:
    """Raise what the decision says, unless an approved request carries the change."""
    if decision.forbidden:
        raise PolicyForbids(decision.forbidden)
    if decision.needs_approval and not approved:
        raise ApprovalRequired(decision.needs_approval)


# --- the checks ---------------------------------------------------------------------------------


def policy_check_create(
    *,
    api_key_type: APIKeyType,
    consumption_limits: ConsumptionLimits | None,
    expires_at: datetime | date | None,
    now: datetime | None = None,
    policy: KeyPolicy | None = None,
) -> PolicyDecision:
    policy = policy or KeyPolicy.current()
    now = now or timezone.now()
    forbidden, approval = [], []
    if api_key_type == APIKeyType.ADMIN:
        if policy.admin_keys_need_approval:
            approval.append(PolicyHit(ADMIN_KEYS, "this is a new ADMIN key"))
        return PolicyDecision(tuple(forbidden), tuple(approval))
    if policy.inference_max_expiry_days is not None:
        days = policy.inference_max_expiry_days
        name = EXPIRY_REQUIRED.format(days=days)
        expiry = _moment(expires_at)
        if expiry is None:
            forbidden.append(PolicyHit(name, "give the key an expiry"))
        elif expiry > now + timedelta(days=days):
            forbidden.append(
                PolicyHit(name, f"choose an expiry before {now + timedelta(days=days):%Y-%m-%d}")
            )
    limits = consumption_limits or ConsumptionLimits()
    if policy.inference_require_limit and limits.is_unlimited:
        forbidden.append(PolicyHit(LIMIT_REQUIRED, "set a USD or DIEM limit"))
    over = _over_ceiling(limits, policy.inference_limit_usd_max, policy.inference_limit_diem_max)
    if over:
        ceiling = _ceiling_text(policy.inference_limit_usd_max, policy.inference_limit_diem_max)
        approval.append(PolicyHit(LIMIT_CEILING.format(ceiling=ceiling), over))
    return PolicyDecision(tuple(forbidden), tuple(approval))


def policy_check_update(
    *,
    key: APIKey,
    patch: dict,
    policy: KeyPolicy | None = None,
) -> PolicyDecision:
    """`patch`: the fields that change, as api_key_update takes them."""
    policy = policy or KeyPolicy.current()
    approval = []
    if key.api_key_type == APIKeyType.ADMIN and policy.admin_keys_need_approval:
        approval.append(PolicyHit(ADMIN_KEYS, "this changes an ADMIN key"))
    limits = patch.get("consumption_limits")
    if policy.removing_limit_or_expiry_needs_approval:
        if "expires_at" in patch and patch["expires_at"] is None and key.expires_at is not None:
            approval.append(PolicyHit(REMOVING_GUARDS, "the key would never expire"))
        if limits is not None and limits.is_unlimited and not key.consumption_limits.is_unlimited:
            approval.append(PolicyHit(REMOVING_GUARDS, "the key would have no limit"))
    if limits is not None:
        raised = _raised_above(
            key.consumption_limits,
            limits,
            policy.limit_raise_usd_threshold,
            policy.limit_raise_diem_threshold,
        )
        if raised:
            ceiling = _ceiling_text(
                policy.limit_raise_usd_threshold, policy.limit_raise_diem_threshold
            )
            approval.append(PolicyHit(LIMIT_RAISE.format(ceiling=ceiling), raised))
    return PolicyDecision((), tuple(approval))


def policy_check_delete(
    *, key: APIKey, now: datetime | None = None, policy: KeyPolicy | None = None
) -> PolicyDecision:
    policy = policy or KeyPolicy.current()
    approval = []
    if key.api_key_type == APIKeyType.ADMIN and policy.admin_keys_need_approval:
        approval.append(PolicyHit(ADMIN_KEYS, "this deletes an ADMIN key"))
    used = _used_within(key, policy.recent_use_hours, now or timezone.now())
    if policy.delete_in_use_needs_approval and used:
        approval.append(PolicyHit(DELETE_IN_USE.format(hours=policy.recent_use_hours), used))
    return PolicyDecision((), tuple(approval))


def policy_check_rotation(
    *, key: APIKey, grace: str, now: datetime | None = None, policy: KeyPolicy | None = None
) -> PolicyDecision:
    """A rotation makes a key of the same type: an ADMIN key's needs approval as its create
    would; a rotation without grace of a key in use cuts off whatever uses it."""
    policy = policy or KeyPolicy.current()
    approval = []
    if key.api_key_type == APIKeyType.ADMIN and policy.admin_keys_need_approval:
        approval.append(PolicyHit(ADMIN_KEYS, "this replaces an ADMIN key"))
    used = _used_within(key, policy.recent_use_hours, now or timezone.now())
    if grace == "now" and policy.rotate_now_in_use_needs_approval and used:
        approval.append(PolicyHit(ROTATE_NOW_IN_USE.format(hours=policy.recent_use_hours), used))
    return PolicyDecision((), tuple(approval))


def policies_in_force(policy: KeyPolicy | None = None) -> list[str]:
    """The names of the policies that are on, for the forms to show before submit."""
    policy = policy or KeyPolicy.current()
    names = []
    if policy.inference_max_expiry_days is not None:
        names.append(EXPIRY_REQUIRED.format(days=policy.inference_max_expiry_days))
    if policy.inference_require_limit:
        names.append(LIMIT_REQUIRED)
    if policy.inference_limit_usd_max is not None or policy.inference_limit_diem_max is not None:
        names.append(
            LIMIT_CEILING.format(
                ceiling=_ceiling_text(
                    policy.inference_limit_usd_max, policy.inference_limit_diem_max
                )
            )
        )
    if policy.admin_keys_need_approval:
        names.append(ADMIN_KEYS)
    if policy.delete_in_use_needs_approval:
        names.append(DELETE_IN_USE.format(hours=policy.recent_use_hours))
    if policy.rotate_now_in_use_needs_approval:
        names.append(ROTATE_NOW_IN_USE.format(hours=policy.recent_use_hours))
    if (
        policy.limit_raise_usd_threshold is not None
        or policy.limit_raise_diem_threshold is not None
    ):
        names.append(
            LIMIT_RAISE.format(
                ceiling=_ceiling_text(
                    policy.limit_raise_usd_threshold, policy.limit_raise_diem_threshold
                )
            )
        )
    if policy.removing_limit_or_expiry_needs_approval:
        names.append(REMOVING_GUARDS)
    return names


# --- editing the policies -----------------------------------------------------------------------

POLICY_FIELDS = (
    "inference_max_expiry_days",
    "inference_require_limit",
    "inference_limit_usd_max",
    "inference_limit_diem_max",
    "admin_keys_need_approval",
    "recent_use_hours",
    "delete_in_use_needs_approval",
    "rotate_now_in_use_needs_approval",
    "limit_raise_usd_threshold",
    "limit_raise_diem_threshold",
    "removing_limit_or_expiry_needs_approval",
)


@dataclass
class PolicyChange:
    changed: dict = field(default_factory=dict)  # {field: [before, after]}


def policies_update(*, context: AuditContext, values: dict) -> PolicyChange:
    """Set the policies to `values` (the POLICY_FIELDS); one audit record with before → after."""
    if context.user is not None and not context.user.has_perm(Ability.MANAGE_POLICIES.permission):
        raise PermissionDenied(POLICIES_REFUSED)
    with transaction.atomic():
        policy = KeyPolicy.objects.select_for_update().get_or_create(pk=1)[0]
        change = PolicyChange()
        for name in POLICY_FIELDS:
            before, after = getattr(policy, name), values[name]
            if _json(before) != _json(after):
                change.changed[name] = [_json(before), _json(after)]
                setattr(policy, name, after)
        if not change.changed:
            return change
        policy.updated_by_username = context.username
        policy.save()
        audit_log(context, action=AuditAction.POLICY_CHANGED, changes=change.changed)
    return change


# --- helpers -----------------------------------------------------------------------------------


def _moment(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=timezone.get_current_timezone())


def _over_ceiling(limits: ConsumptionLimits, usd_max, diem_max) -> str:
    parts = []
    if usd_max is not None and limits.usd is not None and limits.usd > usd_max:
        parts.append(f"a USD limit of {limits.usd} (above {usd_max})")
    if diem_max is not None and limits.diem is not None and limits.diem > diem_max:
        parts.append(f"a DIEM limit of {limits.diem} (above {diem_max})")
    return " and ".join(parts)


def _raised_above(before: ConsumptionLimits, after: ConsumptionLimits, usd_max, diem_max) -> str:
    parts = []
    for currency, ceiling in (("usd", usd_max), ("diem", diem_max)):
        old, new = getattr(before, currency), getattr(after, currency)
        if ceiling is None or new is None or new <= ceiling:
            continue
        if old is None or new > old:
            parts.append(f"the {currency.upper()} limit to {new} (above {ceiling})")
    return " and ".join(parts)


def _ceiling_text(usd, diem) -> str:
    parts = []
    if usd is not None:
        parts.append(f"${usd.normalize():f}")
    if diem is not None:
        parts.append(f"{diem.normalize():f} DIEM")
    return " or ".join(parts)


def _used_within(key: APIKey, hours: int, now: datetime) -> str:
    """'the key was used 3 hours ago' when its lastUsedAt is within `hours`, else ''."""
    if key.last_used_at is None or now - key.last_used_at > timedelta(hours=hours):
        return ""
    ago = now - key.last_used_at
    minutes = int(ago.total_seconds() // 60)
    when = f"{minutes // 60} hours" if minutes >= 120 else f"{max(minutes, 1)} minutes"
    return f"the key was used {when} ago"


def _json(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value
