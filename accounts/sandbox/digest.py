"""How the sandbox recognises a key's secret without keeping it: a SHA-256 hash.

Venice needs to recognise a secret, not to remember it, and the portal's rule is that secrets
are never written anywhere; so a key record holds only `secret_digest(secret)` and the last six
characters (for `last6Chars`), and a Bearer token is hashed and looked up.
"""

from __future__ import annotations

import hashlib


def secret_digest(secret: str) -> str:
    """The hex SHA-256 of a secret: what the sandbox stores and looks keys up by."""
    return hashlib.sha256(secret.encode()).hexdigest()
