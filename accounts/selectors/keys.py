"""Reads about API keys that several views share: the filtered list, one key, its flags.

Venice holds the keys; the portal filters, searches and sorts them here, on the server, from one
`list()` call (the API has no server-side filters). Flags that need our own records (a key whose
secret was lost to a timed-out create) come from one query for the whole list, never one per
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from django.utils import timezone

from accounts.selectors.audit import audit_key_ids_with_lost_secret
from accounts.selectors.rotation import (
    OpenRotationKeys,
    rotation_open_keys,
    rotation_overdue_key_ids,
)
from accounts.services.key_ownership import ownerships_by_key
from accounts.venice import APIKey, APIKeyType, VeniceClient, get_client

EXPIRING_WITHIN = timedelta(days=14)
NO_TEAM, NO_OWNER = "none", "none"
UNUSED_FOR = timedelta(days=30)

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class KeyStatus(StrEnum):
    ACTIVE = "active"  # not expired
    EXPIRING = "expiring"  # expires within EXPIRING_WITHIN
    EXPIRED = "expired"
    UNUSED = "unused"  # not used (nor created) within UNUSED_FOR
    UNLIMITED = "unlimited"  # no consumption limit in any currency


class KeySort(StrEnum):
    CREATED = "created"
    LAST_USED = "last_used"
    EXPIRES = "expires"


@dataclass(frozen=True)
class KeyQuery:
    key_type: APIKeyType | None = None
    status: KeyStatus | None = None
    search: str = ""
    sort: KeySort = KeySort.CREATED
    descending: bool = True
    # A team's slug or NO_TEAM; an owner's username or contact, or NO_OWNER.
    team: str = ""
    owner: str = ""


@dataclass(frozen=True)
class KeyFlags:
    """What a reviewer wants to see at a glance."""

    admin: bool = False
    expired: bool = False
    expiring_soon: bool = False
    unused: bool = False
    unlimited: bool = False
    secret_lost: bool = False
    # In an open rotation: the key being replaced, or its replacement (both keep one name).
    retiring: bool = False
    replacement: bool = False
    # Its rotation schedule is overdue: rotate_due missed it, or could not rotate it.
    rotation_overdue: bool = False


@dataclass(frozen=True)
class KeyRow:
    key: APIKey
    flags: KeyFlags
    ownership: object | None = None  # its KeyOwnership (team, owner), if any


def _owner_matches(ownership, owner: str) -> bool:
    if owner == NO_OWNER:
        return ownership is None or (ownership.owner is None and not ownership.owner_contact)
    if ownership is None:
        return False
    if ownership.owner is not None:
        return ownership.owner.get_username() == owner
    return ownership.owner_contact.casefold() == owner.casefold()


def _team_matches(ownership, team: str) -> bool:
    if team == NO_TEAM:
        return ownership is None or ownership.team is None
    return ownership is not None and ownership.team is not None and ownership.team.slug == team


@dataclass(frozen=True)
class KeyListing:
    rows: list[KeyRow]
    total: int  # keys in the account, before filtering
    query: KeyQuery


def api_key_flags(
    key: APIKey,
    *,
    now: datetime,
    secret_lost: bool = False,
    rotating: OpenRotationKeys | None = None,
    overdue_ids: frozenset[str] = frozenset(),
) -> KeyFlags:
    expires_at = key.expires_at
    expired = expires_at is not None and expires_at <= now
    # A key created last week and never used is new, not unused: count from its creation.
    seen = key.last_used_at or key.created_at
    return KeyFlags(
        admin=key.is_admin,
        expired=expired,
        expiring_soon=(
            not expired and expires_at is not None and expires_at <= now + EXPIRING_WITHIN
        ),
        unused=seen is None or seen <= now - UNUSED_FOR,
        unlimited=key.consumption_limits.is_unlimited,
        secret_lost=secret_lost,
        retiring=rotating is not None and key.id in rotating.old_key_ids,
        replacement=rotating is not None and key.id in rotating.new_key_ids,
        rotation_overdue=key.id in overdue_ids,
    )


def _matches(row: KeyRow, query: KeyQuery) -> bool:
    key, flags = row.key, row.flags
    if query.team and not _team_matches(row.ownership, query.team):
        return False
    if query.owner and not _owner_matches(row.ownership, query.owner):
        return False
    if query.key_type is not None and key.api_key_type != query.key_type:
        return False
    if query.search:
        needle = query.search.casefold()
        if needle not in key.description.casefold() and needle not in key.last6.casefold():
            return False
    match query.status:
        case KeyStatus.ACTIVE:
            return not flags.expired
        case KeyStatus.EXPIRING:
            return flags.expiring_soon
        case KeyStatus.EXPIRED:
            return flags.expired
        case KeyStatus.UNUSED:
            return flags.unused
        case KeyStatus.UNLIMITED:
            return flags.unlimited
    return True


def _sort_key(sort: KeySort):
    # Missing dates sort where they mean something: never created/used counts as the oldest,
    # never expiring as the farthest future. Description and id break ties, so order is stable.
    def by(row: KeyRow):
        key = row.key
        match sort:
            case KeySort.LAST_USED:
                when = key.last_used_at or _EARLIEST
            case KeySort.EXPIRES:
                when = key.expires_at or _LATEST
            case _:
                when = key.created_at or _EARLIEST
        return (when, key.description.casefold(), key.id)

    return by


def api_key_rows(
    keys: list[APIKey],
    *,
    query: KeyQuery,
    now: datetime,
    secret_lost_ids: frozenset[str] | set[str] = frozenset(),
    rotating: OpenRotationKeys | None = None,
    overdue_ids: frozenset[str] = frozenset(),
    ownerships: dict | None = None,
) -> list[KeyRow]:
    """Flag, filter and sort keys (no I/O)."""
    ownerships = ownerships or {}
    rows = [
        KeyRow(
            ownership=ownerships.get(key.id),
            key=key,
            flags=api_key_flags(
                key,
                now=now,
                secret_lost=key.id in secret_lost_ids,
                rotating=rotating,
                overdue_ids=overdue_ids,
            ),
        )
        for key in keys
    ]
    rows = [row for row in rows if _matches(row, query)]
    rows.sort(key=_sort_key(query.sort), reverse=query.descending)
    return rows


def api_key_list(
    *,
    query: KeyQuery | None = None,
    now: datetime | None = None,
    client: VeniceClient | None = None,
) -> KeyListing:
    """Every key matching `query`, flagged. Raises the client's VeniceError on failure."""
    query = query or KeyQuery()
    now = now or timezone.now()
    keys = (client or get_client()).api_keys.list()
    rows = api_key_rows(
        keys,
        query=query,
        now=now,
        # One query for the whole list (by the audit table's key index), never one per row.
        secret_lost_ids=audit_key_ids_with_lost_secret([key.id for key in keys]) if keys else set(),
        rotating=rotation_open_keys(),
        overdue_ids=rotation_overdue_key_ids(now=now),
        ownerships=ownerships_by_key(),
    )
    return KeyListing(rows=rows, total=len(keys), query=query)


@dataclass(frozen=True)
class UsageMeter:
    """Current-period usage against one currency's limit, for a <meter>."""

    currency: str  # "usd" or "diem"
    used: Decimal
    limit: Decimal

    @property
    def percent(self) -> int:
        if not self.limit:
            return 100 if self.used else 0
        return int(self.used * 100 / self.limit)

    @property
    def low(self) -> Decimal:
        return self.limit * Decimal("0.75")

    @property
    def high(self) -> Decimal:
        return self.limit * Decimal("0.9")


def api_key_usage_meters(key: APIKey) -> list[UsageMeter]:
    """One meter per currency the key has a limit in (Venice reports period usage only then)."""
    usage = key.current_period_usage
    if usage is None:
        return []
    limits = key.consumption_limits
    return [
        UsageMeter(currency=currency, used=getattr(usage, currency), limit=limit)
        for currency, limit in (("usd", limits.usd), ("diem", limits.diem))
        if limit is not None
    ]


def api_key_list_all(*, fresh: bool = False, client: VeniceClient | None = None) -> list[APIKey]:
    """Every key of the account, as Venice lists them; `fresh` reads past the cache."""
    return (client or get_client()).api_keys.list(fresh=fresh)


def api_key_get(
    *, key_id: str, fresh: bool = False, client: VeniceClient | None = None
) -> APIKey | None:
    """One key, or None when Venice doesn't know it; `fresh` reads past the cache."""
    return (client or get_client()).api_keys.get(key_id, fresh=fresh)
