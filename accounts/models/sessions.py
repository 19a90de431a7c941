"""Sessions in the database, keyed by a hash of the session key, with where they come from."""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class PortalSession(AbstractBaseSession):
    """One signed-in browser (Django's database session, extended as its docs describe).

    The primary key is the SHA-256 of the session key, never the key itself: a copy of this
    table lets nobody sign in as anyone. The other fields are what the sessions pages show;
    the session store fills them in from the session's data whenever it is saved."""

    session_key = models.CharField("session key hash", max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="portal_sessions",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "session"
        indexes = [models.Index(fields=["user", "expire_date"], name="session_user_expiry")]

    @classmethod
    def get_session_store_class(cls):
        from accounts.sessions import SessionStore

        return SessionStore
