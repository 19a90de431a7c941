"""Opaque, signed usage-history cursors.

A cursor is base64url(JSON payload + HMAC-SHA256 tag truncated to 16 bytes), no padding, so it
matches the spec's `^[A-Za-z0-9_-]+$` and stays well under 512 characters. The payload carries
the walk's filters, its position (timestamp, sequence number of the last entry served) and its
snapshot (the highest sequence number it may serve), so the walk is stable while new usage is
recorded. The key is per sandbox: a cursor from another sandbox (another "user") or one with a
changed byte fails the check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

TAG_BYTES = 16
MAX_LENGTH = 512


class CursorError(ValueError):
    pass


def sign_cursor(secret: bytes, payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(secret, raw, hashlib.sha256).digest()[:TAG_BYTES]
    return base64.urlsafe_b64encode(raw + tag).rstrip(b"=").decode()


def read_cursor(secret: bytes, token: str) -> dict:
    if not token or len(token) > MAX_LENGTH:
        raise CursorError("cursor has the wrong length")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise CursorError("cursor has characters a cursor never has")
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise CursorError("cursor is not base64url") from None
    raw, tag = blob[:-TAG_BYTES], blob[-TAG_BYTES:]
    expected = hmac.new(secret, raw, hashlib.sha256).digest()[:TAG_BYTES]
    if len(blob) <= TAG_BYTES or not hmac.compare_digest(tag, expected):
        raise CursorError("cursor signature does not match")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise CursorError("cursor payload is not JSON") from None
    if not isinstance(payload, dict):
        raise CursorError("cursor payload is not an object")
    return payload
