"""Incremental verification of the audit chain, from signed checkpoints.

    audit_chain_check()            # from the newest checkpoint whose signature holds
    audit_chain_check(full=True)   # every record, from the first

An intact run appends a checkpoint (models/audit_checkpoint.py) signed with
AUDIT_CHECKPOINT_KEY, so the daily check reads only the records sealed since the day before.
Without the key nothing is signed and every run walks the whole chain.

The newest checkpoint must verify. One whose signature does not hold (written or edited by
someone without the key) is a finding, reported as a break, and the run walks everything, so
that a rewrite hidden behind a forged checkpoint is found too. Older checkpoints are not
consulted: the newest one is what the last run vouched for. `full=True` relies on none (it
reads everything): after a change of key it is how the chain gets a checkpoint again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from django.conf import settings
from django.utils import timezone

from accounts.models import AuditCheckpoint
from accounts.models.audit_checkpoint import checkpoint_signature
from accounts.selectors.audit_chain import ChainBreak, ChainReport, audit_chain_verify

CHECKPOINT_FORGED = (
    "the newest checkpoint (#{pk}, sequence {sequence}) is not signed with AUDIT_CHECKPOINT_KEY: "
    "it was written or changed by someone without the key (or the key was changed); "
    "every record was checked instead"
)


@dataclass(frozen=True)
class ChainCheck:
    report: ChainReport
    checkpoint: AuditCheckpoint | None  # the one made by this run (None: not intact, no key)
    started_from: AuditCheckpoint | None  # the one the run started after
    signed: bool  # whether AUDIT_CHECKPOINT_KEY is set
    unverifiable: AuditCheckpoint | None = None  # --full: the newest, not signed with the key

    @property
    def intact(self) -> bool:
        return self.report.intact


def _key() -> str:
    return getattr(settings, "AUDIT_CHECKPOINT_KEY", "")


def audit_chain_check(*, full: bool = False, workers: int | None = None) -> ChainCheck:
    """`workers`: processes that may share a long walk (default: one per CPU)."""
    key = _key()
    newest = AuditCheckpoint.objects.order_by("-id").first() if key else None
    forged = None
    if newest is not None and not newest.signature_holds(key):
        forged, newest = newest, None
    if full:
        # Every record is read, so no checkpoint is relied on: an unverifiable one (after a
        # change of key) is noted, not a break, and this run's checkpoint replaces it.
        newest, ignored, forged = None, forged, None
    else:
        ignored = None
    after = (newest.sequence, newest.hash) if newest is not None else None
    report = audit_chain_verify(after=after, workers=workers or os.cpu_count() or 1)
    if forged is not None:
        found = ChainBreak(CHECKPOINT_FORGED.format(pk=forged.pk, sequence=forged.sequence))
        report = replace(report, breaks=(found, *report.breaks), break_count=report.break_count + 1)
    made = None
    if key and report.intact:
        made = audit_checkpoint_make(
            key=key,
            sequence=report.head_sequence,
            hash=report.head_hash,
            full=after is None,
        )
    return ChainCheck(
        report=report,
        checkpoint=made,
        started_from=newest,
        signed=bool(key),
        unverifiable=ignored,
    )


def audit_checkpoint_make(*, key: str, sequence: int, hash: str, full: bool) -> AuditCheckpoint:  # noqa: A002
    verified_at = timezone.now()
    signature = checkpoint_signature(key, sequence=sequence, hash=hash, verified_at=verified_at)
    return AuditCheckpoint.objects.create(
        sequence=sequence, hash=hash, verified_at=verified_at, signature=signature, full=full
    )
