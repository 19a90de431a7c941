"""The audit chain check: every sealed record, in sealing order, matches its hash and links to
the one before; nothing is missing at the end, nothing finished is left unsealed.

`audit_chain_verify()` walks the whole chain; `audit_chain_verify(after=(sequence, hash))`
starts after a point already verified (a checkpoint, services/audit_checkpoints.py), first
checking that the record there still carries that hash. Rows are read as `.values()` in
chunks of the sequence index, and hashed with the same `canonical_record` the records were
sealed with: no model instances, so a million records stay a matter of seconds.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import connections

from accounts.models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    AuditOutcome,
    canonical_record,
    chain_hash,
)
from accounts.models.audit import HASHED_FIELDS

# How many breaks a report keeps (it counts them all): enough to investigate, while a chain
# broken everywhere (a restore gone wrong) does not hold a million of them in memory.
CHAIN_BREAKS_KEPT = 1000
_COLUMNS = ("id", *HASHED_FIELDS, "previous_hash", "hash")
# Below this many records to read, one process walks them (starting processes costs more).
PARALLEL_FROM = 100_000


@dataclass(frozen=True)
class ChainBreak:
    """One place the chain does not hold: a record, or (record_id None) the chain's end."""

    problem: str
    record_id: int | None = None
    sequence: int | None = None
    action: str = ""
    time: datetime | None = None

    @classmethod
    def at(cls, event, problem: str) -> ChainBreak:
        if isinstance(event, dict):
            return cls(problem, event["id"], event["sequence"], event["action"], event["time"])
        return cls(problem, event.pk, event.sequence, event.action, event.time)


@dataclass(frozen=True)
class ChainReport:
    count: int  # sealed records checked
    pending: int  # records not sealed yet
    breaks: tuple[ChainBreak, ...] = ()  # in chain order; the first CHAIN_BREAKS_KEPT
    break_count: int = 0  # all of them
    head_hash: str = GENESIS_HASH  # the last record checked
    head_sequence: int = 0
    started_after: int = 0  # the sequence the walk started after (0: the first record)
    processes: int = 1  # how many processes shared the walk

    @property
    def intact(self) -> bool:
        return not self.break_count

    @property
    def problem(self) -> str:
        """The first break's problem ("" when intact)."""
        return self.breaks[0].problem if self.breaks else ""


CHECKPOINT_REWRITTEN = (
    "the record a checkpoint verified (sequence {sequence}) no longer carries the hash it was "
    "verified with: records up to it were rewritten or removed since"
)


def audit_chain_verify(
    *,
    after: tuple[int, str] | None = None,
    chunk: int = 2000,
    keep: int = CHAIN_BREAKS_KEPT,
    workers: int = 1,
    parallel_from: int = PARALLEL_FROM,
) -> ChainReport:
    """Walk the chain in sealing order, up to its head as it stood when the walk began, and
    report every record that does not fit; from the start, or after `(sequence, hash)`.

    After a broken record the walk re-synchronises on that record's own sequence and hash, so
    one tampered record is reported once and every record after it is still checked. Records
    sealed while it runs are beyond the head it read: they are left to the next run.

    With `workers` > 1 and at least `parallel_from` records to read, stretches of the chain
    are walked by that many processes at once (`_walk_stretches`); the report is the same."""
    breaks: list[ChainBreak] = []
    break_count = 0

    def broken(problem: str, event=None) -> None:
        nonlocal break_count
        break_count += 1
        if len(breaks) < keep:
            breaks.append(ChainBreak(problem) if event is None else ChainBreak.at(event, problem))

    # The head first. Sealing writes a record and the head in one transaction, so every
    # record up to the head read here was committed before it, and the walk finds all of
    # them without a snapshot. Read last, the head had moved on past records sealed during
    # the walk, and a busy portal looked as if its newest records had been cut off.
    head_sequence, head_hash = _chain_head()
    pending = AuditEvent.objects.filter(outcome=AuditOutcome.PENDING).count()
    start_sequence, start_hash = after or (0, GENESIS_HASH)
    if start_sequence:
        there = AuditEvent.objects.filter(sequence=start_sequence).values_list("hash", flat=True)
        if list(there) != [start_hash]:
            broken(CHECKPOINT_REWRITTEN.format(sequence=start_sequence))
    span = head_sequence - start_sequence
    processes = workers if workers > 1 and span >= parallel_from and _may_fork() else 1
    # A few stretches per process, so that one slower stretch does not leave the others idle.
    parts = processes * 4 if processes > 1 else 1
    starts = _stretch_starts(start_sequence, start_hash, head_sequence, parts=parts)
    stretches = _walk_stretches(
        starts, upto=head_sequence, chunk=chunk, keep=keep, workers=processes
    )
    count = 0
    for stretch in stretches:
        count += stretch.count
        break_count += stretch.break_count
        breaks.extend(stretch.breaks[: max(0, keep - len(breaks))])
    last_checked, expected_previous = stretches[-1].last_sequence, stretches[-1].last_hash

    unsealed = (
        AuditEvent.objects.exclude(outcome=AuditOutcome.PENDING)
        .filter(sequence__isnull=True)
        .order_by("id")
    )
    for event in unsealed.iterator():
        broken("it is finished but was never sealed", event)
    if (head_sequence, head_hash) != (last_checked, expected_previous):
        if head_sequence > last_checked:
            broken(f"the last {head_sequence - last_checked} record(s) of the chain are missing")
        else:
            broken("the chain's head does not match its last record")
    # Records beyond the head are sealed later, so the head has moved past them by the time
    # they can be read; one the head is behind now means the head was moved back by hand.
    # (Its sequence first, then the head: in that order the head cannot lag legitimately.)
    last = AuditEvent.objects.filter(sequence__gt=head_sequence).order_by("-sequence").first()
    if last is not None and _chain_head()[0] < last.sequence:
        broken("it lies beyond the chain's head: the head was moved back", last)
    return ChainReport(
        count,
        pending,
        tuple(breaks),
        break_count,
        expected_previous,
        head_sequence=last_checked,
        started_after=start_sequence,
        processes=processes,
    )


@dataclass(frozen=True)
class _Stretch:
    """What walking the records after `(sequence, hash)` up to a sequence found."""

    count: int
    breaks: tuple[ChainBreak, ...]  # the first `keep`
    break_count: int
    last_sequence: int  # the last record read (the start's, if none)
    last_hash: str


def _walk_stretch(after_sequence: int, after_hash: str, upto: int, *, chunk, keep) -> _Stretch:
    """The records with a sequence in (after_sequence, upto], in order, each judged against
    the one read before it: `after_hash` is the stored hash of the record before the first."""
    breaks: list[ChainBreak] = []
    break_count = 0
    expected_sequence, expected_previous, count = after_sequence + 1, after_hash, 0
    events = (
        AuditEvent.objects.filter(sequence__isnull=False, sequence__lte=upto)
        .order_by("sequence")
        .values(*_COLUMNS)
    )
    last_sequence = after_sequence
    while True:
        batch = list(events.filter(sequence__gt=last_sequence)[:chunk])
        for event in batch:
            problems = []
            if event["sequence"] != expected_sequence:
                missing = event["sequence"] - expected_sequence
                # Its link points at the missing record, so a mismatch there says nothing new.
                problems.append(
                    f"{missing} record(s) before it are missing "
                    f"(sequence {expected_sequence} expected, {event['sequence']} found)"
                )
            elif event["previous_hash"] != expected_previous:
                problems.append(
                    "its link to the record before it does not match that record's hash"
                )
            if event["hash"] != chain_hash(event["previous_hash"], canonical_record(event)):
                problems.append("its content does not match its hash: it was changed after sealing")
            if problems:
                break_count += 1
                if len(breaks) < keep:
                    breaks.append(ChainBreak.at(event, "; ".join(problems)))
            # Go on from this record as it stands, so the next one is judged on its own.
            expected_sequence = event["sequence"] + 1
            expected_previous = event["hash"]
            count += 1
        if len(batch) < chunk:
            break
        last_sequence = batch[-1]["sequence"]
    return _Stretch(count, tuple(breaks), break_count, expected_sequence - 1, expected_previous)


def _stretch_starts(after_sequence: int, after_hash: str, upto: int, *, parts: int) -> list:
    """Where `parts` stretches of (after_sequence, upto] begin: each at the last record at or
    before its first sequence, as one walk would have reached it (a missing record included:
    the walk goes on from the record it read last)."""
    starts = [(after_sequence, after_hash)]
    size = (upto - after_sequence) // parts
    if parts <= 1 or size < 1:
        return starts
    for index in range(1, parts):
        boundary = after_sequence + index * size
        before = (
            AuditEvent.objects.filter(sequence__gt=after_sequence, sequence__lte=boundary)
            .order_by("-sequence")
            .values_list("sequence", "hash")
            .first()
        )
        starts.append(before or starts[-1])
    # Each stretch ends where the next begins; a start repeated (records missing) is dropped.
    return list(dict.fromkeys(starts))


def _walk_stretches(starts: list, *, upto: int, chunk: int, keep: int, workers: int) -> list:
    ends = [sequence for sequence, _ in starts[1:]] + [upto]
    jobs = [(sequence, hash_, end) for (sequence, hash_), end in zip(starts, ends, strict=True)]
    if workers <= 1:
        return [_walk_stretch(*job, chunk=chunk, keep=keep) for job in jobs]
    # Each process opens its own database connection: one inherited across fork would be
    # shared by all of them, their queries' bytes interleaved on one socket.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(
            pool.map(partial(_walk_stretch, chunk=chunk, keep=keep), *zip(*jobs, strict=True))
        )


def _may_fork() -> bool:
    """Processes can share the walk when the database outlives a connection closed here:
    not inside a transaction (its rows are not theirs to see) nor an in-memory SQLite."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            return False
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            return False
    return True


def _chain_head() -> tuple[int, str]:
    """The last sealed record's (sequence, hash), as AuditChainHead holds it."""
    head = AuditChainHead.objects.filter(pk=1).values_list("sequence", "hash").first()
    return head or (0, GENESIS_HASH)


# --- the chain as a file (docs/audit-format.md) -----------------------------------------------


def audit_chain_line(event: dict) -> str:
    """One sealed record as a line of the JSON Lines export: its hash, the previous hash and
    its canonical content, serialised exactly as the hash was computed (ASCII, keys sorted,
    no spaces), so the line is its own canonical form."""
    payload = {
        "hash": event["hash"],
        "previous_hash": event["previous_hash"],
        "record": canonical_record(event),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


@dataclass(frozen=True)
class ChainExport:
    after: int  # the file starts after this sequence
    previous_hash: str  # the hash its first record links to (that of record `after`)
    head_sequence: int  # it ends with this record...
    head_hash: str  # ...whose hash this is
    lines: Iterator[str]


def audit_chain_export(*, after: int = 0, chunk: int = 2000) -> ChainExport:
    """The sealed records after sequence `after`, up to the chain's head as it stands now, as
    JSON Lines in sequence order, read in chunks as the caller consumes them."""
    head_sequence, head_hash = _chain_head()
    after = max(0, min(after, head_sequence))
    if after:
        previous = AuditEvent.objects.filter(sequence=after).values_list("hash", flat=True)
        previous_hash = previous.first() or ""
    else:
        previous_hash = GENESIS_HASH
    if head_sequence == after:
        head_hash = previous_hash

    def lines() -> Iterator[str]:
        events = (
            AuditEvent.objects.filter(sequence__isnull=False, sequence__lte=head_sequence)
            .order_by("sequence")
            .values(*_COLUMNS)
        )
        last = after
        while True:
            batch = list(events.filter(sequence__gt=last)[:chunk])
            yield "".join(audit_chain_line(event) for event in batch)
            if len(batch) < chunk:
                return
            last = batch[-1]["sequence"]

    return ChainExport(after, previous_hash, head_sequence, head_hash, lines())
