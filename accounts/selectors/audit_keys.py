"""Finding keys in the audit log by what people remember: a description (or part of one), the
last 6 characters of the secret, or the id.

The log names some thousands of keys across a million records; a search by description cannot
use an index on the records themselves (it matches inside the text), and reading every record
takes a second. So the portal keeps a directory of the (key id, description, last 6) triples the
records hold, read once from a covering index (audit_key_names: ~150 ms at a million records)
and then kept up to date with only the records added or sealed since (the highest id, and the
chain's head sequence, mark how far it has read). It lives in each process's memory: a
directory of ten thousand keys is a few hundred kilobytes, and rebuilding it is cheap enough
that each worker doing so once costs nothing worth sharing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max, Q

from accounts.models import AuditChainHead, AuditEvent

# A search that matches more keys than this is not applied: the person is asked to type more.
MAX_KEYS_PER_SEARCH = 20
CANDIDATES_SHOWN = 10
MIN_ID_PREFIX = 8  # a key id typed in part must be at least this long to count as an id


@dataclass
class _Directory:
    # key id -> {(description, last 6): the newest record giving it that name}
    names: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    # How far it has read: the highest record id (and that record's time, to notice a test
    # database reusing ids after a rollback) and the chain head's sequence.
    last_id: int = 0
    last_time: datetime | None = None
    head_sequence: int = 0


_directory = _Directory()
_lock = threading.Lock()


def _watermark() -> tuple[int, datetime | None, int]:
    last = AuditEvent.objects.order_by("-id").values_list("id", "time").first() or (0, None)
    head = AuditChainHead.objects.filter(pk=1).values_list("sequence", flat=True).first() or 0
    return last[0], last[1], head


def _triples(events) -> list[tuple[str, str, str, int]]:
    return list(
        events.filter(key_id__gt="")
        .values_list("key_id", "key_description", "key_last6")
        .annotate(newest=Max("id"))
        .order_by()
    )


def audit_key_names() -> dict[str, dict[tuple[str, str], int]]:
    """Every key id the records name, with each (description, last 6) they give it and the
    newest record that does."""
    global _directory
    last_id, last_time, head = _watermark()
    with _lock:
        known = _directory
        stale = (
            last_id < known.last_id
            or head < known.head_sequence
            or (
                known.last_id
                and not AuditEvent.objects.filter(pk=known.last_id, time=known.last_time).exists()
            )
        )
        if stale or not known.last_id:
            fresh = _Directory()
            rows = _triples(AuditEvent.objects.all())
        elif (last_id, head) != (known.last_id, known.head_sequence):
            # Records added since, and pending ones sealed since (their key noted on the way).
            fresh = known
            rows = _triples(
                AuditEvent.objects.filter(
                    Q(id__gt=known.last_id) | Q(sequence__gt=known.head_sequence)
                )
            )
        else:
            return known.names
        for key_id, description, last6, newest in rows:
            names = fresh.names.setdefault(key_id, {})
            names[(description, last6)] = max(newest, names.get((description, last6), 0))
        fresh.last_id, fresh.last_time, fresh.head_sequence = last_id, last_time, head
        _directory = fresh
        return fresh.names


@dataclass(frozen=True)
class KeyMatch:
    key_id: str
    description: str  # as the newest record names it
    last6: str


@dataclass(frozen=True)
class KeySearch:
    text: str
    matches: tuple[KeyMatch, ...] = ()  # the first CANDIDATES_SHOWN when too many
    total: int = 0

    @property
    def too_many(self) -> bool:
        return self.total > MAX_KEYS_PER_SEARCH

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The keys to filter by: none when too many matched (the filter is not applied)."""
        return () if self.too_many else tuple(match.key_id for match in self.matches)


def _normalise(text: str) -> str:
    text = text.strip()
    for mark in ("…", "..."):
        if text.startswith(mark):
            text = text[len(mark) :]
    return text.strip().lower()


def audit_keys_matching(text: str) -> KeySearch:
    """The keys whose id is `text` (or starts with it), whose last 6 characters are `text`,
    or whose description contains it, case aside; ids and last 6 first."""
    wanted = _normalise(text)
    if not wanted:
        return KeySearch(text=text)
    exact, described = [], []
    for key_id, names in audit_key_names().items():
        lowered = key_id.lower()
        if lowered == wanted or (len(wanted) >= MIN_ID_PREFIX and lowered.startswith(wanted)):
            exact.append((key_id, names))
        elif any(last6.lower() == wanted for _, last6 in names):
            exact.append((key_id, names))
        elif any(wanted in description.lower() for description, _ in names):
            described.append((key_id, names))
    described.sort(key=lambda pair: (_current(pair[1])[0].lower(), pair[0]))
    found = exact + described
    limit = CANDIDATES_SHOWN if len(found) > MAX_KEYS_PER_SEARCH else MAX_KEYS_PER_SEARCH
    matches = tuple(KeyMatch(key_id, *_current(names)) for key_id, names in found[:limit])
    return KeySearch(text=text, matches=matches, total=len(found))


def _current(names: dict[tuple[str, str], int]) -> tuple[str, str]:
    """The (description, last 6) of the newest record naming the key."""
    return max(names, key=lambda pair: names[pair])
