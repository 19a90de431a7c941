"""One date format for tables and one for prose, in the viewer's time zone.

Tables: `2026-12-02 04:43` (sorts as text, reads in any language), dates alone `2026-12-02`.
Prose: `Dec 2, 2026, 04:43 UTC`, dates alone `Dec 2, 2026`, ranges `Nov 1 – Nov 30, 2026`.
Times are shown in the time zone the viewer chose (accounts/models/preferences.py; UTC by
default), which the middleware activates for the request; the zone is always named, and the
UTC time is kept on hover (see the `when` filter). Venice's billing days are UTC days whatever
the viewer's zone: those stay dates, never converted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

TABLE = "%Y-%m-%d %H:%M"
TABLE_SECONDS = "%Y-%m-%d %H:%M:%S"


def local(value: datetime) -> datetime:
    """The moment in the active (the viewer's) time zone."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return timezone.localtime(value)


def zone_name() -> str:
    """The active zone's name for headers: `UTC`, `Europe/Berlin`."""
    return str(timezone.get_current_timezone_name())


def is_utc() -> bool:
    return zone_name() in ("UTC", "Etc/UTC")


def zone_abbreviation(value: datetime) -> str:
    """`UTC`, `CET`, `EDT`, or the offset (`+0530`) where the zone has no abbreviation."""
    name = local(value).tzname() or ""
    if not name or name[0] in "+-":
        return local(value).strftime("UTC%z") if name else "UTC"
    return name


def table(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return ""
    return local(value).strftime(TABLE_SECONDS if seconds else TABLE)


def table_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return value.isoformat()


def utc_exact(value: datetime) -> str:
    """`2026-12-02 04:43:05 UTC`: what hovering a time shows."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(TABLE_SECONDS) + " UTC"


def day_prose(value: date | datetime | None) -> str:
    """`Dec 2, 2026`."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return f"{value:%b} {value.day}, {value.year}"


def prose(value: datetime | None) -> str:
    """`Dec 2, 2026, 04:43 UTC` (in the viewer's zone, named)."""
    if value is None:
        return ""
    moment = local(value)
    return f"{day_prose(moment.date())}, {moment:%H:%M} {zone_abbreviation(value)}"


def range_prose(start: date, end: date) -> str:
    """`Nov 1 – Nov 30, 2026`; `Dec 15, 2026 – Jan 14, 2027`; `Nov 3, 2026` for one day."""
    if start == end:
        return day_prose(start)
    if start.year == end.year:
        return f"{start:%b} {start.day} – {end:%b} {end.day}, {end.year}"
    return f"{day_prose(start)} – {day_prose(end)}"


def ago(moment: datetime | None, now: datetime) -> str:
    """'3 min ago', 'never'."""
    if moment is None:
        return "never"
    return f"{span(now - moment)} ago"


def span(length: timedelta | None) -> str:
    """'3 min', '2 h 10 min', '4 days'."""
    if length is None:
        return "—"
    minutes = int(length.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"
