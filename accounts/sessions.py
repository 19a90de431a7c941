"""The session engine (SESSION_ENGINE): Django's database sessions, stored by key hash and
encrypted.

The cookie carries the session key; the table keeps only its SHA-256, so reading the table
(a backup, a replica, a leaked dump) gives no session anyone can use. The data is encrypted
(accounts/crypto.py): a second factor being set up keeps its secret in the session until it
is confirmed. SessionActivityMiddleware (accounts/middleware.py) notes where a session is
used; the store copies that into columns for the sessions pages.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography.fernet import InvalidToken
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

from accounts import crypto

# Session data keys the portal keeps (Django's own start with "_auth").
STARTED = "_portal_started"
SEEN = "_portal_seen"
IP = "_portal_ip"
USER_AGENT = "_portal_user_agent"


def session_key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        from accounts.models import PortalSession

        return PortalSession

    def _get_session_from_db(self):
        try:
            return self.model.objects.get(
                session_key=session_key_hash(self.session_key), expire_date__gt=timezone.now()
            )
        except self.model.DoesNotExist:
            self._session_key = None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=session_key_hash(session_key)).exists()

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.session_key = session_key_hash(session.session_key)
        session.user_id = _int_or_none(data.get(SESSION_KEY))
        session.ip = data.get(IP) or None
        session.user_agent = (data.get(USER_AGENT) or "")[:512]
        session.started_at = _moment(data.get(STARTED))
        session.last_seen_at = _moment(data.get(SEEN))
        return session

    def encode(self, session_dict) -> str:
        return crypto.encrypt(super().encode(session_dict))

    def decode(self, session_data: str) -> dict:
        try:
            return super().decode(crypto.decrypt(session_data))
        except InvalidToken:
            return {}  # written under another key: a session nobody can resume

    def delete(self, session_key=None):
        session_key = session_key if session_key is not None else self.session_key
        if session_key is None:
            return
        self.model.objects.filter(session_key=session_key_hash(session_key)).delete()

    # The portal serves WSGI only; the async API would bypass the hashing above.
    async def aload(self):
        raise NotImplementedError("accounts.sessions is synchronous")

    async def asave(self, must_create=False):
        raise NotImplementedError("accounts.sessions is synchronous")


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _moment(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
