"""The bell: marking a member's notifications read (theirs only; nothing else changes)."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import AlertNotification


def notifications_mark_read(*, user, event_ids=None) -> int:
    """Mark `user`'s unread notifications read (of these events only, when given); returns
    how many."""
    unread = AlertNotification.objects.filter(user=user, read_at__isnull=True)
    if event_ids is not None:
        unread = unread.filter(event_id__in=list(event_ids))
    return unread.update(read_at=timezone.now())
