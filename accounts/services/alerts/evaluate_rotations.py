"""Rotation rules: a grace period ending while the old key is still in use; rotations that
failed or were left unfinished."""

from __future__ import annotations

from datetime import timedelta

from accounts.models import Rotation
from accounts.services.alerts.evaluate_common import (
    CRITICAL,
    WARNING,
    Observation,
    in_words,
    key_url,
    when,
)
from accounts.services.alerts.inputs import AlertInputs


def rotation_grace(params, inputs: AlertInputs, states):
    hours = int(params.get("hours") or 0)
    minutes = int(params.get("minutes") or 0)
    now = inputs.now
    keys = inputs.keys_by_id
    rotations = Rotation.objects.filter(state=Rotation.State.GRACE, retire_at__isnull=False)
    for rotation in rotations:
        left = rotation.retire_at - now
        old = keys.get(rotation.old_key_id)
        used = old.last_used_at if old else None
        in_use = used is not None and used >= now - timedelta(minutes=minutes)
        ending = timedelta(0) < left <= timedelta(hours=hours)
        name = f"“{rotation.old_description}” (…{rotation.old_last6})"
        yield Observation(
            f"rotation:{rotation.pk}",
            1 if ending and in_use else 0,
            severity=WARNING,
            title=(
                f"The old key {name} is still in use, and its grace period ends "
                f"{in_words(left) if left > timedelta(0) else 'now'} ({when(rotation.retire_at)})"
            ),
            body=(
                "Whatever still uses the old key stops working when the grace period ends: "
                "switch it to the new key first, or extend the grace period on the key's page."
            ),
            facts={
                "rotation_id": rotation.pk,
                "old_key_id": rotation.old_key_id,
                "old_key_last6": rotation.old_last6,
                "key_description": rotation.old_description,
                "new_key_id": rotation.new_key_id,
                "retire_at": rotation.retire_at.isoformat(),
                "old_key_last_used_at": used.isoformat() if used else None,
            },
            link=key_url(rotation.old_key_id),
        )


def rotation_failed(params, inputs: AlertInputs, states):
    minutes = int(params.get("minutes") or 0)
    now = inputs.now
    late = now - timedelta(minutes=minutes)
    for rotation in Rotation.objects.filter(state__in=Rotation.OPEN_STATES):
        name = f"“{rotation.old_description}” (…{rotation.old_last6})"
        level, severity, title = 0, WARNING, f"Rotation of key {name}"
        if rotation.state == Rotation.State.FAILED:
            level, severity = 1, CRITICAL
            title = f"Rotation of key {name} failed while {rotation.step_label}"
        elif rotation.is_stalled and rotation.updated_at <= late:
            level = 1
            title = f"Rotation of key {name} was left unfinished while {rotation.step_label}"
        elif (
            rotation.state == Rotation.State.GRACE
            and rotation.retire_at is not None
            and rotation.retire_at <= late
        ):
            level = 1
            title = (
                f"Rotation of key {name}: the grace period ended {when(rotation.retire_at)} "
                "but the old key is not deleted yet (is finish_rotations running?)"
            )
        yield Observation(
            f"rotation:{rotation.pk}",
            level,
            severity=severity,
            title=title,
            body="Resume or abort it on the key's page.",
            facts={
                "rotation_id": rotation.pk,
                "state": rotation.state,
                "step": rotation.step_label,
                "error": rotation.last_error,
                "old_key_id": rotation.old_key_id,
                "old_key_last6": rotation.old_last6,
                "key_description": rotation.old_description,
            },
            link=key_url(rotation.old_key_id),
        )
