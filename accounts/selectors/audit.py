"""Reading audit records: filtered pages, one key's trail, and drift (the chain: audit_chain.py).

Pages walk (time, id) newest first with a keyset cursor ("older than this record"), never an
OFFSET, so page 20,000 costs what page 1 costs; each filter has an index ending in (time, id)
(see AuditEvent.Meta.indexes).

Several actions, or several keys (a search by description can match a few), are one query
each, merged here: "action IN (a, b) ORDER BY time" cannot be read in order from one index, so
the database would sort every matching record (hundreds of thousands) for one page, while each
single-action query is one index range that stops after a page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import (
    AuditAction,
    AuditChainHead,
    AuditEvent,
    AuditOutcome,
)

PAGE_SIZE = 50
DRIFT_SHOWN = 50
# How long a computed drift is kept at most; any change to the records or to Venice's key
# list replaces it sooner (see _drift_cache_key).
DRIFT_CACHE_SECONDS = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Actions that bring a key into existence, and that take one out of it.
CREATE_ACTIONS = (AuditAction.KEY_CREATED, AuditAction.ROTATION_REPLACEMENT_CREATED)
DELETE_ACTIONS = (AuditAction.KEY_DELETED, AuditAction.ROTATION_OLD_KEY_DELETED)


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilters:
    """What the audit page and its CSV filter by; empty values mean "any".

    `actions`: any of these. `key`: what was typed to find a key (a description, the last 6
    characters or an id), and `key_ids` the keys it found (see selectors/audit_keys.py): a key
    typed that matches none matches no record. `rotation`: one rotation's records."""

    actor: str = ""
    actions: tuple[str, ...] = ()
    key: str = ""
    key_ids: tuple[str, ...] = ()
    outcome: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    rotation: int | None = None

    def as_dict(self) -> dict:
        """The filters in use, for the export's audit record and for links (`action` a list:
        one query parameter per action)."""
        values = {
            "actor": self.actor,
            "action": list(self.actions),
            "key": self.key,
            "outcome": self.outcome,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "rotation": self.rotation or "",
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first walk: records strictly older than (time, id)."""

    time: datetime
    id: int

    def encode(self) -> str:
        micros = (self.time - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            micros, _, pk = text.partition(".")
            moment = _EPOCH + timedelta(microseconds=int(micros))
            return cls(time=moment, id=int(pk))
        except (ValueError, OverflowError):
            raise InvalidCursor(text) from None

    @classmethod
    def after(cls, event: AuditEvent) -> Cursor:
        return cls(time=event.time, id=event.pk)


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: Cursor | None  # None on the last page


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _common(events: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        events = events.filter(actor_username=filters.actor)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.date_from:
        events = events.filter(time__gte=_day_start(filters.date_from))
    if filters.date_to:
        events = events.filter(time__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.rotation is not None:
        events = events.filter(details__rotation=filters.rotation)
    return events.order_by("-time", "-id")


def _matches_nothing(filters: AuditFilters) -> bool:
    # A key typed that found no key, or a rotation whose keys are unknown (a rotation is read
    # through its keys' records: on its own the details field has no index).
    return (bool(filters.key) or filters.rotation is not None) and not filters.key_ids


def audit_events_filtered(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Matching records, newest first, as one query (for a page, audit_querysets reads
    several actions or keys as one query each)."""
    if _matches_nothing(filters):
        return AuditEvent.objects.none()
    events = AuditEvent.objects.all()
    if len(filters.actions) == 1:
        events = events.filter(action=filters.actions[0])
    elif filters.actions:
        events = events.filter(action__in=filters.actions)
    if len(filters.key_ids) == 1:
        events = events.filter(key_id=filters.key_ids[0])
    elif filters.key_ids:
        events = events.filter(key_id__in=filters.key_ids)
    return _common(events, filters)


def audit_querysets(filters: AuditFilters) -> list[QuerySet[AuditEvent]]:
    """The queries whose newest-first rows, merged, are the matching records: one per key
    (a key's records are few: its index, then the other filters), else one per action (each
    an index range in order), else one."""
    if _matches_nothing(filters):
        return []
    if len(filters.key_ids) > 1:
        return [
            audit_events_filtered(replace(filters, key_ids=(key_id,))) for key_id in filters.key_ids
        ]
    if len(filters.actions) > 1 and not filters.key_ids:
        return [
            audit_events_filtered(replace(filters, actions=(action,))) for action in filters.actions
        ]
    return [audit_events_filtered(filters)]


def _merged(
    querysets: list[QuerySet[AuditEvent]], before: Cursor | None, limit: int
) -> list[AuditEvent]:
    """The newest `limit` rows of all the queries, older than `before`: each query's own
    newest `limit` hold them all.

    With several queries, each first reads only (time, id), which its index holds (no table
    row is read for a filter the index covers), and only the `limit` winners are then read
    whole: ten keys' pages would otherwise read ten pages of rows to keep one."""
    if before is not None:
        querysets = [_older_than(events, before) for events in querysets]
    if len(querysets) == 1:
        return list(querysets[0][:limit])
    stamps: list[tuple] = []
    for events in querysets:
        stamps += list(events.values_list("time", "id")[:limit])
    stamps.sort(reverse=True)
    ids = [pk for _, pk in stamps[:limit]]
    rows = AuditEvent.objects.in_bulk(ids)
    return [rows[pk] for pk in ids if pk in rows]


def _older_than(events: QuerySet[AuditEvent], cursor: Cursor) -> QuerySet[AuditEvent]:
    # (time, id) < (t, i), written so that `time <= t` is a plain index bound: the scan starts
    # at the cursor instead of walking down to it.
    return events.filter(time__lte=cursor.time).exclude(time=cursor.time, id__gte=cursor.id)


def audit_page(
    filters: AuditFilters, *, before: Cursor | None = None, size: int = PAGE_SIZE
) -> AuditPage:
    """One page of matching records, older than `before` (from the newest when None)."""
    rows = _merged(audit_querysets(filters), before, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(events=rows, next_cursor=Cursor.after(rows[-1]) if more and rows else None)


def audit_events_iter(
    filters: AuditFilters, *, until: datetime | None = None, chunk: int = 1000
) -> Iterator[AuditEvent]:
    """Every matching record, newest first, fetched `chunk` rows at a time by keyset (memory
    stays flat and no cursor stays open between chunks). `until` caps the walk at a moment,
    so an export lists the records as they stood when it began."""
    querysets = audit_querysets(filters)
    if until is not None:
        querysets = [events.filter(time__lte=until) for events in querysets]
    before = None
    while True:
        page = _merged(querysets, before, chunk)
        yield from page
        if len(page) < chunk:
            return
        before = Cursor.after(page[-1])


def audit_events_for_key(key_id: str, *, limit: int = 50) -> list[AuditEvent]:
    """A key's audit trail, newest first (for the key page)."""
    return list(AuditEvent.objects.filter(key_id=key_id).order_by("-time", "-id")[:limit])


def audit_unrecorded_keys(keys: Iterable) -> list:
    """The keys (APIKey) no audit record names yet, as another create, a rotation's
    replacement, an adoption or anything else: a key some record names is accounted for."""
    keys = list(keys)
    known = set(
        AuditEvent.objects.filter(key_id__in=[key.id for key in keys]).values_list(
            "key_id", flat=True
        )
    )
    known |= audit_adopted_key_ids()
    return [key for key in keys if key.id not in known]


def audit_keys_made_only_by_rotation_attempt(keys: Iterable, *, rotation_id: int) -> list:
    """The keys (APIKey) that no record names but a replacement_created record of this
    rotation: made by an attempt whose worker died after Venice answered (the record was
    finished by the dying worker's key note or by reconcile_audit), so the rotation never
    took them as its replacement and nobody has their secret."""
    keys = list(keys)
    named = AuditEvent.objects.filter(key_id__in=[key.id for key in keys])
    attempt = Q(action=AuditAction.ROTATION_REPLACEMENT_CREATED, details__rotation=rotation_id)
    mine = set(named.filter(attempt).values_list("key_id", flat=True))
    elsewhere = set(named.exclude(attempt).values_list("key_id", flat=True))
    return [key for key in keys if key.id in mine and key.id not in elsewhere]


def audit_adopted_key_ids() -> set[str]:
    """The keys a `keys.adopted` record took into the baseline (services/adoption.py): one
    record snapshots many keys, in its details, so they are read from there (a handful of
    records at most, by the action's index)."""
    ids: set[str] = set()
    adopted = AuditEvent.objects.filter(
        action=AuditAction.KEYS_ADOPTED, outcome=AuditOutcome.SUCCEEDED
    ).values_list("details", flat=True)
    for details in adopted:
        ids |= {entry.get("id") for entry in (details or {}).get("keys", []) if entry.get("id")}
    return ids


def audit_key_ids_with_lost_secret(key_ids: Iterable[str] | None = None) -> set[str]:
    """Keys recorded as created whose one-time secret never reached anyone (a create that
    timed out after sending, found afterwards): the key pages flag them for rotation."""
    from accounts.services.audit import SECRET_LOST

    events = AuditEvent.objects.filter(
        action__in=CREATE_ACTIONS, **{f"details__{SECRET_LOST}": True}
    )
    if key_ids is not None:
        events = events.filter(key_id__in=list(key_ids))
    return set(events.values_list("key_id", flat=True))


# The chain check lives in selectors/audit_chain.py; these names stay importable from here.
from accounts.selectors.audit_chain import (  # noqa: E402, F401
    CHAIN_BREAKS_KEPT,
    ChainBreak,
    ChainReport,
    audit_chain_verify,
)

# --- drift ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditDrift:
    """Keys the audit log cannot account for."""

    # Seen upstream with no record of their creation here (made outside the portal).
    unrecorded: list = field(default_factory=list)  # APIKey
    # Recorded here but gone upstream without a recorded deletion: (key_id, last record).
    vanished: list = field(default_factory=list)  # tuple[str, AuditEvent]
    # The lists hold at most DRIFT_SHOWN entries each; these count them all.
    unrecorded_total: int = 0
    vanished_total: int = 0

    @property
    def any(self) -> bool:
        return bool(self.unrecorded_total or self.vanished_total)


def _distinct_key_ids() -> set[str]:
    """Every key id any record names. SELECT DISTINCT would read the whole key index (a
    million entries: seconds); this walks it by seeks instead, one per distinct key (a "loose
    index scan", spelled as a recursive CTE since neither SQLite nor PostgreSQL does it on its
    own): a few thousand keys take milliseconds."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    column = connection.ops.quote_name(AuditEvent._meta.get_field("key_id").column)
    sql = f"""
        WITH RECURSIVE walk(key_id) AS (
            SELECT MIN({column}) FROM {table} WHERE {column} > ''
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > walk.key_id)
            FROM walk WHERE walk.key_id IS NOT NULL
        )
        SELECT key_id FROM walk WHERE key_id IS NOT NULL
    """  # noqa: S608 - names from the model, no user input
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


def _key_ids_with(key_ids: Iterable[str], condition: Q, batch: int = 500) -> set[str]:
    """Which of these keys have a record matching `condition` (index audit_key_action_outcome;
    batched to stay under the database's limit on query parameters)."""
    key_ids = sorted(key_ids)
    found: set[str] = set()
    for start in range(0, len(key_ids), batch):
        chunk = key_ids[start : start + batch]
        found |= set(
            AuditEvent.objects.filter(condition, key_id__in=chunk)
            .values_list("key_id", flat=True)
            .distinct()
            .order_by()
        )
    return found


def audit_drift(keys=None) -> AuditDrift:
    """Compare the upstream key list (`get_client().api_keys.list()` unless `keys` is given)
    with the audit records. Raises the client's VeniceError when Venice cannot be asked.

    At a million records with thousands of distinct keys the comparison takes 50-100 ms, and
    the audit page shows it on every filtered view (bench/audit.py measures it); it changes
    only when the records or the key list do, so it is kept in the cache under a key that
    names both."""
    if keys is None:
        from accounts.venice import get_client

        keys = get_client().api_keys.list()
    cache_key = _drift_cache_key(keys)
    drift = cache.get(cache_key)
    if drift is None:
        drift = _audit_drift(keys)
        cache.set(cache_key, drift, DRIFT_CACHE_SECONDS)
    return drift


def _drift_cache_key(keys) -> str:
    """Names the state drift is computed from. Every change to the records either inserts one
    (a new highest id) or finishes a pending one, which seals it into the chain (the head's
    sequence moves); a pending record changed on its way (its key noted) is sealed moments
    later. The key list is named by what drift reads and shows of each key."""
    last_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    head = AuditChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first() or 0
    shown = sorted(
        (key.id, key.description, key.last6, str(key.api_key_type), str(key.created_at))
        for key in keys
    )
    digest = hashlib.sha256(repr(shown).encode()).hexdigest()[:32]
    return f"audit:drift:v1:{last_id}:{head}:{digest}"


def audit_drift_unrecorded_all(keys) -> list:
    """Every key of `keys` no record accounts for as created (nor adopted), oldest first: what
    adoption takes into the baseline (drift's own list stops at DRIFT_SHOWN)."""
    upstream = {key.id: key for key in keys}
    created = _key_ids_with(
        upstream, Q(action__in=CREATE_ACTIONS) & ~Q(outcome=AuditOutcome.FAILED)
    )
    created |= audit_adopted_key_ids()
    return sorted(
        (key for key_id, key in upstream.items() if key_id not in created),
        key=lambda key: (key.created_at is None, key.created_at, key.id),
    )


def _audit_drift(keys) -> AuditDrift:
    upstream = {key.id: key for key in keys}
    adopted = audit_adopted_key_ids()
    unrecorded = audit_drift_unrecorded_all(keys)
    # Every key any record names, minus those still upstream and those recorded as deleted.
    named = (_distinct_key_ids() | adopted) - set(upstream)
    deleted = _key_ids_with(named, Q(action__in=DELETE_ACTIONS, outcome=AuditOutcome.SUCCEEDED))
    gone = sorted(named - deleted)
    vanished = []
    for key_id in gone[:DRIFT_SHOWN]:
        last = AuditEvent.objects.filter(key_id=key_id).order_by("-time", "-id").first()
        if last is None:
            # Known only from an adoption record, which names many keys.
            last = (
                AuditEvent.objects.filter(action=AuditAction.KEYS_ADOPTED)
                .order_by("-time", "-id")
                .first()
            )
        vanished.append((key_id, last))
    vanished.sort(key=lambda pair: (pair[1].time, pair[1].pk), reverse=True)
    return AuditDrift(
        unrecorded=unrecorded[:DRIFT_SHOWN],
        vanished=vanished,
        unrecorded_total=len(unrecorded),
        vanished_total=len(gone),
    )


def audit_drift_key_ids(keys) -> tuple[set[str], set[str]]:
    """Every key id drift counts, not only the DRIFT_SHOWN it lists: (seen upstream with no
    recorded creation, recorded here but gone upstream without a recorded deletion). The
    alert on new drift compares these sets between runs."""
    upstream = {key.id for key in keys}
    created = _key_ids_with(
        upstream, Q(action__in=CREATE_ACTIONS) & ~Q(outcome=AuditOutcome.FAILED)
    )
    named = _distinct_key_ids() - upstream
    deleted = _key_ids_with(named, Q(action__in=DELETE_ACTIONS, outcome=AuditOutcome.SUCCEEDED))
    return upstream - created, named - deleted
