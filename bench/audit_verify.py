"""verify_audit over the million records: the daily run after a checkpoint, and --full.

The bench's records carry stand-in hashes (bench/audit.py builds them with raw SQL), so every
record is reported broken; the walk's work — reading each record in sequence order, hashing
its canonical form, comparing — is the same as over a valid chain, and a report keeps at most
1,000 breaks, so the figures are what a real chain of that size costs. The daily run starts
from a signed checkpoint 10,000 records before the head (issue 18: ≤ 2 s on either database);
--full reads all of them (≤ 30 s on PostgreSQL; SQLite's is printed against the same line).
"""

from __future__ import annotations

from bench import env
from bench.harness import Compare, Result

NEW_RECORDS = 10_000
DAILY_TARGET_S = 2.0
FULL_TARGET_S = 30.0


def run(*, name: str) -> list[Result]:
    from django.db.models import Max

    from accounts.models import AuditChainHead, AuditCheckpoint, AuditEvent
    from accounts.services.audit_checkpoints import audit_chain_check, audit_checkpoint_make

    key = "bench-checkpoint-key"
    from django.conf import settings

    settings.AUDIT_CHECKPOINT_KEY = key
    head = AuditEvent.objects.aggregate(Max("sequence"))["sequence__max"]
    head_hash = AuditEvent.objects.get(sequence=head).hash
    AuditChainHead.objects.update_or_create(pk=1, defaults={"sequence": head, "hash": head_hash})
    at = head - NEW_RECORDS
    AuditCheckpoint.objects.all().delete()
    audit_checkpoint_make(
        key=key, sequence=at, hash=AuditEvent.objects.get(sequence=at).hash, full=True
    )
    daily_s, daily = env.timed(lambda: audit_chain_check())
    full_s, full = env.timed(lambda: audit_chain_check(full=True))
    return [
        Result(
            figure=f"verify_audit after a checkpoint, {NEW_RECORDS:,} new of 1M ({name})",
            value=daily_s,
            unit="s",
            limit=DAILY_TARGET_S,
            compare=Compare.AT_MOST,
            decimals=2,
            note=f"{name}: {daily.report.count:,} records read after the signed checkpoint",
        ),
        Result(
            figure=f"verify_audit --full, 1,000,000 records ({name})",
            value=full_s,
            unit="s",
            limit=FULL_TARGET_S,
            compare=Compare.AT_MOST,
            decimals=1,
            note=f"{name}: {full.report.count:,} records read, hashed and compared in sequence "
            "order (the bench's stand-in hashes make each a reported break; at most 1,000 kept)",
        ),
    ]
