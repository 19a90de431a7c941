"""Reading rotations: what the key page and the rotate form show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from accounts.models import Rotation, RotationSchedule
from accounts.models.rotation import OVERDUE_AFTER


def rotation_open_for(*, key_id: str) -> Rotation | None:
    """The key's open rotation (started, replacement created, in grace, or failed), if any."""
    return Rotation.objects.filter(old_key_id=key_id, state__in=Rotation.OPEN_STATES).first()


def rotation_open_with_replacement(*, key_id: str) -> Rotation | None:
    """The open rotation whose replacement is this key (and not yet deleted), if any."""
    return Rotation.objects.filter(
        new_key_id=key_id, state__in=Rotation.OPEN_STATES, replacement_deleted_at__isnull=True
    ).first()


def rotations_open_by_key() -> dict[str, Rotation]:
    """Every open rotation, by the id of the key it retires (one query, for the dashboard)."""
    return {
        rotation.old_key_id: rotation
        for rotation in Rotation.objects.filter(state__in=Rotation.OPEN_STATES)
    }


@dataclass(frozen=True)
class OpenRotationKeys:
    """The keys open rotations are replacing, and their replacements."""

    old_key_ids: frozenset[str]
    new_key_ids: frozenset[str]


def rotation_open_keys() -> OpenRotationKeys:
    """Both keys of every open rotation (one query, for the key list)."""
    pairs = list(
        Rotation.objects.filter(state__in=Rotation.OPEN_STATES).values_list(
            "old_key_id", "new_key_id"
        )
    )
    return OpenRotationKeys(
        old_key_ids=frozenset(old for old, _ in pairs),
        new_key_ids=frozenset(new for _, new in pairs if new),
    )


def rotation_schedule_for_key(*, key_id: str) -> RotationSchedule | None:
    return RotationSchedule.objects.filter(key_id=key_id).first()


def rotation_overdue_key_ids(*, now: datetime) -> frozenset[str]:
    """Keys whose scheduled rotation rotate_due has missed or failed (one query)."""
    return frozenset(
        RotationSchedule.objects.filter(next_due_at__lte=now - OVERDUE_AFTER).values_list(
            "key_id", flat=True
        )
    )


def rotations_for_key(*, key_id: str, limit: int = 20) -> list[Rotation]:
    """The rotations that retired this key or produced it, newest first."""
    return list(Rotation.objects.filter(Q(old_key_id=key_id) | Q(new_key_id=key_id))[:limit])


def rotation_retired(*, key_id: str) -> Rotation | None:
    """The completed rotation that deleted this key, for a page about a key that is gone."""
    return (
        Rotation.objects.filter(old_key_id=key_id, state=Rotation.State.COMPLETED)
        .order_by("-finished_at")
        .first()
    )


def rotations_by_id(ids) -> dict[int, Rotation]:
    """The rotations with these ids (one query; the audit list heads each one's records)."""
    ids = {int(i) for i in ids if isinstance(i, int) or str(i).isdigit()}
    return Rotation.objects.in_bulk(ids) if ids else {}
