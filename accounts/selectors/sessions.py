"""Reading sessions: who is signed in where, for the sessions pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.models import PortalSession
from accounts.sessions import session_key_hash

_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


@dataclass(frozen=True)
class SessionRow:
    id: str  # the key's hash: it names the session without being able to open it
    device: str
    ip: str | None
    started_at: datetime | None
    last_seen_at: datetime | None
    expires_at: datetime
    current: bool


def describe_device(user_agent: str) -> str:
    """'Chrome on Linux' from a User-Agent, or what is known of it."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    if re.search(r"\bHeadlessChrome/", user_agent):
        browser = "Headless Chrome"
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (user_agent[:60] if user_agent else "An unknown browser")


def sessions_of(user, *, current: str | None = None) -> list[SessionRow]:
    """The user's live sessions, most recently used first; `current` is this request's key."""
    current_id = session_key_hash(current) if current else None
    rows = PortalSession.objects.filter(user=user, expire_date__gt=timezone.now()).order_by(
        "-last_seen_at", "-expire_date"
    )
    return [_row(session, current_id) for session in rows]


def _row(session: PortalSession, current_id: str | None) -> SessionRow:
    return SessionRow(
        id=session.session_key,
        device=describe_device(session.user_agent),
        ip=session.ip,
        started_at=session.started_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expire_date,
        current=session.session_key == current_id,
    )


def session_row(user, session_id: str, *, current: str | None = None) -> SessionRow | None:
    session = PortalSession.objects.filter(
        user=user, session_key=session_id, expire_date__gt=timezone.now()
    ).first()
    return _row(session, session_key_hash(current) if current else None) if session else None


def describe_duration(span) -> str:
    """'8 hours', '7 days', '90 minutes'."""
    minutes = int(span.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0 and minutes >= size:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minutes"
