"""The sandbox's notion of "now": real UTC time, unless a test moves it."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Real UTC time by default. `advance()` and `set()` pin it to a simulated time.

    Once pinned, the clock stands still until moved again, so a test can reason about exact
    instants (a key expiring, the creation window sliding, a rate-limit reset).
    """

    def __init__(self, now: datetime | None = None):
        self._lock = threading.Lock()
        self._fixed: datetime | None = _utc(now) if now is not None else None

    def now(self) -> datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
        return datetime.now(UTC)

    def now_ms(self) -> int:
        return to_ms(self.now())

    def set(self, when: datetime) -> None:
        with self._lock:
            self._fixed = _utc(when)

    def advance(self, delta: timedelta | float | int) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            base = self._fixed if self._fixed is not None else datetime.now(UTC)
            self._fixed = base + delta
            return self._fixed

    def resume(self) -> None:
        """Go back to real time."""
        with self._lock:
            self._fixed = None

    @property
    def is_frozen(self) -> bool:
        return self._fixed is not None


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("the sandbox clock needs a timezone-aware datetime")
    return when.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@functools.lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def iso_ms(ms: int) -> str:
    """2026-06-15T19:05:10.504Z: how Venice writes timestamps (by arithmetic: it formats
    every row of a 1,000-entry page)."""
    day, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day_text(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


DAY_MS = 86_400_000


def midnight_ms(ms: int) -> int:
    """The start of the UTC day (Venice's epoch) holding this instant."""
    return ms - ms % DAY_MS


def month_start_ms(ms: int) -> int:
    when = from_ms(ms)
    return to_ms(datetime(when.year, when.month, 1, tzinfo=UTC))
