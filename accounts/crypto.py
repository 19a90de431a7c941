"""Encryption at rest for what the portal must read back later (TOTP seeds, recovery-code
seeds): Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`.

The key is PORTAL_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`), kept outside the database. Without it, a
key is derived from DJANGO_SECRET_KEY, so that `make run` needs no setup; a deployment sets
its own, because changing DJANGO_SECRET_KEY would then make every second factor unreadable.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@cache
def _fernet(key: str, secret_key: str) -> Fernet:
    if key:
        return Fernet(key.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"venice-portal encryption at rest"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(text: str) -> str:
    return (
        _fernet(settings.PORTAL_ENCRYPTION_KEY, settings.SECRET_KEY).encrypt(text.encode()).decode()
    )


def decrypt(token: str) -> str:
    return (
        _fernet(settings.PORTAL_ENCRYPTION_KEY, settings.SECRET_KEY)
        .decrypt(token.encode())
        .decode()
    )
