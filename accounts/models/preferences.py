"""Each portal user's own settings: for now, the time zone the pages and exports show times in."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

DEFAULT_TIME_ZONE = "UTC"
TIME_ZONE_UNKNOWN = "Choose a time zone from the list (an IANA name such as Europe/Berlin)."


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(TIME_ZONE_UNKNOWN, code="time_zone_unknown")


def available_time_zones() -> list[str]:
    """The IANA zones this machine knows, UTC first."""
    zones = sorted(zoneinfo.available_timezones() - {"UTC", "localtime", "Factory"})
    return [DEFAULT_TIME_ZONE, *zones]


class UserPreferences(models.Model):
    """One row per user who changed a preference; a user without one has the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_preferences"
    )
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone]
    )

    class Meta:
        verbose_name = "user preferences"
        verbose_name_plural = "user preferences"

    def __str__(self):
        return f"preferences of {self.user}"
