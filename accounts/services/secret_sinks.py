"""Where a scheduled rotation puts the new secret, so that the service using the key gets it
without a person: a file, a command that reads it on standard input, or an HTTPS webhook.

The secret is never put in a command's arguments or environment (both show in `ps` and in
/proc), never logged, and never in an error message: `SinkError` texts are scrubbed of it.
A file is written 0600 and atomically (a temporary file in the same directory, renamed
over the old one), and the previous secret is kept beside it as `<file>.previous` until
the old key is deleted, so a service that has not reloaded yet can still read it. A webhook
gets the secret in a JSON body over HTTPS only, signed like the alert webhooks (X-Portal-
Signature, HMAC-SHA256 of the body with the schedule's signing secret; docs/deploy.md), and
must answer 2xx: anything else is a failure, and no redirect is followed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from accounts import crypto
from accounts.delivery.webhooks import SIGNATURE_HEADER, post_webhook, sign
from accounts.models import Rotation, RotationSchedule

COMMAND_TIMEOUT = 30  # seconds
ERROR_TAIL = 300  # characters of a command's standard error kept in the message
REDACTED_MARK = "[redacted]"


class SinkError(Exception):
    """The secret could not be delivered; `message` says why and never holds the secret."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


WEBHOOK_EVENT = "key.rotated"
WEBHOOK_SCHEMA = 1


def sink_target(schedule: RotationSchedule) -> str:
    return crypto.decrypt(schedule.sink_target_encrypted)


def sink_signing_secret(schedule: RotationSchedule) -> str:
    """A webhook sink's signing secret ("" for the other sinks)."""
    encrypted = schedule.sink_secret_encrypted
    return crypto.decrypt(encrypted) if encrypted else ""


def deliver(schedule: RotationSchedule, secret: str, *, rotation: Rotation) -> None:
    """Put `secret`, the new key of `rotation`, where the schedule says; SinkError if it did
    not get there."""
    target = sink_target(schedule)
    try:
        if schedule.sink == RotationSchedule.Sink.FILE:
            _write_file(Path(target), secret)
        elif schedule.sink == RotationSchedule.Sink.WEBHOOK:
            _post_webhook(target, sink_signing_secret(schedule), secret, rotation)
        else:
            _run_command(target, secret)
    except SinkError as failure:
        raise SinkError(_scrub(failure.message, secret)) from None
    except OSError as failure:
        raise SinkError(
            _scrub(f"{type(failure).__name__}: {failure.strerror or failure}", secret)
        ) from None


def delivered_and_done(schedule: RotationSchedule) -> None:
    """The old key is gone: the previous secret kept beside a file sink can go too."""
    if schedule.sink != RotationSchedule.Sink.FILE:
        return
    previous = _previous(Path(sink_target(schedule)))
    previous.unlink(missing_ok=True)


def _write_file(path: Path, secret: str) -> None:
    if not path.parent.is_dir():
        raise SinkError(f"{path.parent} is not a directory.")
    if path.exists():
        _replace_atomically(_previous(path), path.read_bytes())
    _replace_atomically(path, f"{secret}\n".encode())


def _replace_atomically(path: Path, content: bytes) -> None:
    # mkstemp makes the file 0600; the rename replaces the old one in one step, so a reader
    # sees either the old secret or the new one, never half of one or none.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _previous(path: Path) -> Path:
    return path.with_name(path.name + ".previous")


def _run_command(command: str, secret: str) -> None:
    argv = shlex.split(command)
    if not argv:
        raise SinkError("The sink's command is empty.")
    # A small environment of the portal's own, never with the secret in it.
    environment = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ
    }
    try:
        finished = subprocess.run(  # noqa: S603 - the operator's own command, no shell
            argv,
            input=f"{secret}\n",
            text=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SinkError(f"The sink's command did not finish within {COMMAND_TIMEOUT} s.") from None
    except FileNotFoundError:
        raise SinkError(f"The sink's command {argv[0]!r} was not found.") from None
    if finished.returncode != 0:
        said = (finished.stderr or "").strip()[-ERROR_TAIL:]
        raise SinkError(
            f"The sink's command exited with status {finished.returncode}"
            + (f": {said}" if said else ".")
        )


def webhook_body(rotation: Rotation, secret: str, sent_at) -> dict:
    """What a webhook sink receives. Stable: fields are added, never renamed or removed."""
    return {
        "schema": WEBHOOK_SCHEMA,
        "event": WEBHOOK_EVENT,
        "rotation": rotation.pk,
        "key": {
            "id": rotation.new_key_id,
            "description": rotation.new_description,
            "last6": rotation.new_last6,
            "secret": secret,
        },
        "replaces": {"id": rotation.old_key_id, "last6": rotation.old_last6},
        "old_key_retires_at": rotation.retire_at.isoformat() if rotation.retire_at else None,
        "sent_at": sent_at.isoformat(),
    }


def _post_webhook(url: str, signing_secret: str, secret: str, rotation: Rotation) -> None:
    sent_at = timezone.now().replace(microsecond=0)
    body = json.dumps(webhook_body(rotation, secret, sent_at)).encode()
    result = post_webhook(
        url,
        body,
        headers={
            SIGNATURE_HEADER: sign(signing_secret, body),
            "X-Portal-Event": WEBHOOK_EVENT,
            "X-Portal-Timestamp": str(int(sent_at.timestamp())),
        },
        read_timeout=settings.PORTAL_WEBHOOK_TIMEOUT,
        ca_bundle=settings.PORTAL_WEBHOOK_CA_BUNDLE,
    )
    if not result.ok:
        raise SinkError(f"The sink's webhook {result.error}.")


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, REDACTED_MARK) if secret else text
