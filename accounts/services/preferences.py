"""Each user's own settings: reading them for every request (cached) and changing them."""

from __future__ import annotations

from django.core.cache import cache

from accounts.models import DEFAULT_TIME_ZONE, UserPreferences

# Read on every request to activate the viewer's zone: kept in the shared cache (one entry
# per user, replaced when they change it) so a page costs no extra query.
_CACHE_SECONDS = 3600


def _cache_key(user_id: int) -> str:
    return f"portal:preferences:v1:tz:{user_id}"


def user_time_zone(user) -> str:
    """The zone `user` reads times in (UTC until they choose another)."""
    if user is None or not user.is_authenticated:
        return DEFAULT_TIME_ZONE
    key = _cache_key(user.pk)
    zone = cache.get(key)
    if zone is None:
        zone = (
            UserPreferences.objects.filter(user=user).values_list("time_zone", flat=True).first()
            or DEFAULT_TIME_ZONE
        )
        cache.set(key, zone, _CACHE_SECONDS)
    return zone


def preferences_get(*, user) -> UserPreferences:
    """The user's preferences (unsaved defaults when they never changed any)."""
    return UserPreferences.objects.filter(user=user).first() or UserPreferences(user=user)


def preferences_update(*, user, time_zone: str) -> UserPreferences:
    """Save the user's choices (validated by the form); every later page uses them."""
    preferences, _ = UserPreferences.objects.update_or_create(
        user=user, defaults={"time_zone": time_zone}
    )
    cache.set(_cache_key(user.pk), time_zone, _CACHE_SECONDS)
    return preferences
