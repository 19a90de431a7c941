"""Checkpoints of the audit chain: how far verify_audit has found it intact, signed.

Each run of `verify_audit` that finds the chain intact appends one: the sequence and hash it
reached and when, with an HMAC-SHA256 over them under `AUDIT_CHECKPOINT_KEY`, a key kept out
of the database (the environment, a secret store). The next run starts from the newest
checkpoint whose signature holds, instead of from the first record.

Why a signature: someone who can write to the database could rewrite old records, re-chain
everything after them, and write a checkpoint past the rewrite so that nothing old is looked
at again. Without the key they cannot sign that checkpoint, and a checkpoint whose record no
longer carries its hash shows the rewrite. `verify_audit --full` still walks every record
(the only way to find a record changed *without* re-chaining, older than the checkpoint).
"""

from __future__ import annotations

import hashlib
import hmac

from django.db import models

from accounts.models.audit import _utc_iso

SIGNATURE_VERSION = "venice-audit-checkpoint:v1"


def checkpoint_message(*, sequence: int, hash: str, verified_at) -> bytes:  # noqa: A002
    return f"{SIGNATURE_VERSION}:{sequence}:{hash}:{_utc_iso(verified_at)}".encode("ascii")


def checkpoint_signature(key: str, *, sequence: int, hash: str, verified_at) -> str:  # noqa: A002
    message = checkpoint_message(sequence=sequence, hash=hash, verified_at=verified_at)
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class AuditCheckpoint(models.Model):
    sequence = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    verified_at = models.DateTimeField()
    # HMAC-SHA256 (hex) of checkpoint_message() under AUDIT_CHECKPOINT_KEY.
    signature = models.CharField(max_length=64)
    # The run that made it: every record walked (--full or the first run) or only new ones.
    full = models.BooleanField(default=False)

    class Meta:
        default_permissions = ()
        ordering = ("-sequence", "-id")
        indexes = [models.Index(fields=["sequence", "id"], name="audit_checkpoint_seq")]

    def __str__(self):
        return f"audit checkpoint #{self.sequence}"

    def signature_holds(self, key: str) -> bool:
        expected = checkpoint_signature(
            key, sequence=self.sequence, hash=self.hash, verified_at=self.verified_at
        )
        return hmac.compare_digest(expected, self.signature)
