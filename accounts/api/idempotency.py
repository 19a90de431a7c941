"""`Idempotency-Key` for the calls that make something (create a key, rotate one): the same
request sent again with the same key gets the first answer back, never a second key.

The key is claimed (a row, committed) before the change is made, so a duplicate sent while
the first is still running is told so (409) instead of running too. A stored answer never
holds a secret: a replayed create says the secret was shown once. Answers are kept for a day.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja import Status

from accounts.api.auth import caller_token
from accounts.api.errors import ApiError
from accounts.models import IdempotentRequest

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
KEY_MAX = 128

IN_PROGRESS = "A request with this Idempotency-Key is still being made; ask again in a moment."
KEY_REUSED = "This Idempotency-Key was used for a different request; use a new key."
KEY_TOO_LONG = f"An Idempotency-Key is at most {KEY_MAX} characters."


def once(request, body, make: Callable[[], Status]) -> Status:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return make()
    if len(key) > KEY_MAX:
        raise ApiError(422, "invalid", KEY_TOO_LONG, fields={HEADER: [KEY_TOO_LONG]})
    token = caller_token(request)
    fingerprint = _fingerprint(request, body)
    claimed = _claim(token, key, fingerprint)
    if claimed is None:
        return _replay(token, key, fingerprint)
    try:
        answer = make()
    except BaseException:
        claimed.delete()  # nothing was made: the same request may be sent again
        raise
    claimed.status = answer.status_code
    claimed.body = _without_secret(answer.value)
    claimed.save(update_fields=["status", "body"])
    return answer


def _claim(token, key: str, fingerprint: str) -> IdempotentRequest | None:
    IdempotentRequest.objects.filter(token=token, created_at__lt=timezone.now() - KEPT_FOR).delete()
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(token=token, key=key, fingerprint=fingerprint)
    except IntegrityError:
        return None


def _replay(token, key: str, fingerprint: str) -> Status:
    first = IdempotentRequest.objects.get(token=token, key=key)
    if first.fingerprint != fingerprint:
        raise ApiError(422, "idempotency_key_reused", KEY_REUSED)
    if first.status is None:
        raise ApiError(409, "in_progress", IN_PROGRESS)
    return Status(first.status, first.body)


def _fingerprint(request, body) -> str:
    content = f"{request.method} {request.path} {body.model_dump_json() if body else ''}"
    return hashlib.sha256(content.encode()).hexdigest()


def _without_secret(data) -> dict:
    stored = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    if isinstance(stored, dict) and "secret" in stored:
        stored["secret"] = None  # shown once, in the first answer
    return stored
