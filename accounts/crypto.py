"""Encryption at rest for what the portal must read back later (TOTP seeds, recovery-code
seeds, alert webhook URLs and signing secrets, rotation schedules' destinations): Fernet
(AES-128-CBC with HMAC-SHA256) from `cryptography`.

The key is PORTAL_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`), kept outside the database. Without it, a
key is derived from DJANGO_SECRET_KEY, so that `make run` needs no setup; a deployment sets
its own, because changing DJANGO_SECRET_KEY would then make every second factor unreadable.

Rotating the key: PORTAL_ENCRYPTION_KEY may list several keys, comma-separated, newest first
(`NEW,OLD`). The first encrypts; every one of them decrypts (MultiFernet). Run
`manage.py reencrypt_secrets` to rewrite what is stored with the first key, then drop the old
one (docs/deploy.md). The derived key stays a last way to decrypt, so moving from no setting to
a key of one's own needs nothing but that command.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _derived(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"venice-portal encryption at rest"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


@cache
def _fernet(key: str, secret_key: str) -> MultiFernet:
    keys = [Fernet(part.encode()) for part in key.split(",") if part]
    return MultiFernet([*keys, _derived(secret_key)])


def _current() -> MultiFernet:
    return _fernet(settings.PORTAL_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(text: str) -> str:
    return _current().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    return _current().decrypt(token.encode()).decode()


def reencrypt(token: str) -> str:
    """The same text, encrypted with the first key (raises InvalidToken when no key reads it)."""
    return _current().rotate(token.encode()).decode()
