"""Account-wide rules: rate-limit violations in the last 24 hours; the audit log's integrity
(its hash chain, and keys changed outside the portal)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.urls import reverse

from accounts.selectors.audit import audit_drift_key_ids
from accounts.services.alerts.evaluate_common import CRITICAL, WARNING, Observation
from accounts.services.alerts.inputs import AlertInputs
from accounts.services.audit_checkpoints import audit_chain_check

# An audit-integrity rule runs verify_audit's check at most this often: from the last signed
# checkpoint when AUDIT_CHECKPOINT_KEY is set (seconds), else the whole chain, which at a
# million records takes tens of seconds, too much for every five-minute run.
CHAIN_CHECK_EVERY = timedelta(hours=1)


def rate_limits(params, inputs: AlertInputs, states):
    limit = int(params.get("count") or 0)
    since = inputs.now - timedelta(hours=24)
    recent = [entry for entry in inputs.rate_log or () if entry.timestamp >= since]
    by_type: dict[str, int] = {}
    for entry in recent:
        by_type[entry.error_type] = by_type.get(entry.error_type, 0) + 1
    last = max(recent, key=lambda entry: entry.timestamp, default=None)
    yield Observation(
        "account",
        1 if len(recent) > limit else 0,
        severity=WARNING,
        title=f"{len(recent)} rate-limit violations in the last 24 hours (more than {limit})",
        body="Requests over a limit are refused with 429. The limits page lists them.",
        facts={
            "violations": len(recent),
            "threshold": limit,
            "by_type": by_type,
            "last_at": last.timestamp.isoformat() if last else None,
            "last_model": last.model_id if last else None,
            "last_key_id": last.api_key_id if last else None,
        },
        link=reverse("limits:overview"),
    )


def audit_integrity(params, inputs: AlertInputs, states):
    now = inputs.now
    if params.get("chain"):
        state = states.get("chain")
        memory = dict(state.data) if state is not None else {}
        checked = memory.get("verified_at")
        if not checked or now - datetime.fromisoformat(checked) >= CHAIN_CHECK_EVERY:
            report = audit_chain_check().report
            memory = {
                "verified_at": now.isoformat(),
                "intact": report.intact,
                "breaks": report.break_count,
                "records": report.count,
            }
        yield Observation(
            "chain",
            0 if memory["intact"] else 1,
            severity=CRITICAL,
            title=(
                f"The audit log's hash chain is broken in {memory['breaks']} place(s) "
                f"({memory['records']} records checked)"
            ),
            body="Run `manage.py verify_audit` for the records concerned, and compare with a "
            "backup.",
            facts=memory,
            link=reverse("audit:list"),
            data=memory,
            keep=True,
        )
    if params.get("drift") and inputs.keys is not None:
        unrecorded, vanished = audit_drift_key_ids(inputs.keys)
        current = sorted(unrecorded | vanished)
        state = states.get("drift")
        if state is None:
            # The drift there is when the rule starts is its baseline (the audit page shows
            # it); what appears after is news.
            known = set(current)
        else:
            known = set((state.data or {}).get("known", []))
        new = [key_id for key_id in current if key_id not in known]
        keys = inputs.keys_by_id
        created = [key_id for key_id in new if key_id in unrecorded]
        gone = [key_id for key_id in new if key_id in vanished]
        yield Observation(
            "drift",
            1 if new else 0,
            severity=WARNING,
            title=(
                f"{len(new)} key(s) changed outside the portal: {len(created)} with no recorded "
                f"creation, {len(gone)} gone without a recorded deletion"
            ),
            body="Someone changed keys at Venice directly, or the portal lost a record. The "
            "audit page's drift panel lists them.",
            facts={
                "unrecorded": [
                    {"key_id": key_id, "key_description": keys[key_id].description}
                    for key_id in created[:20]
                ],
                "vanished": [{"key_id": key_id} for key_id in gone[:20]],
                "total": len(new),
            },
            link=reverse("audit:list"),
            data={"known": current},
            keep=True,
        )
