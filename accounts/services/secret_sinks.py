"""Where a scheduled rotation puts the new secret, so that the service using the key gets it
without a person: a file, or a command that reads it on standard input.

The secret is never put in a command's arguments or environment (both show in `ps` and in
/proc), never logged, and never in an error message: `SinkError` texts are scrubbed of it.
A file is written 0600 and atomically (a temporary file in the same directory, renamed
over the old one), and the previous secret is kept beside it as `<file>.previous` until
the old key is deleted, so a service that has not reloaded yet can still read it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from accounts import crypto
from accounts.models import RotationSchedule

COMMAND_TIMEOUT = 30  # seconds
ERROR_TAIL = 300  # characters of a command's standard error kept in the message
REDACTED_MARK = "[redacted]"


class SinkError(Exception):
    """The secret could not be delivered; `message` says why and never holds the secret."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def sink_target(schedule: RotationSchedule) -> str:
    return crypto.decrypt(schedule.sink_target_encrypted)


def deliver(schedule: RotationSchedule, secret: str) -> None:
    """Put `secret` where the schedule says; SinkError if it did not get there."""
    target = sink_target(schedule)
    try:
        if schedule.sink == RotationSchedule.Sink.FILE:
            _write_file(Path(target), secret)
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


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, REDACTED_MARK) if secret else text
