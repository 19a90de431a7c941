"""Crash points for the crash tests (tests/test_crash_harness.py): nothing in production.

    fault_point("audit.key.created.pending")

does nothing unless the environment variable PORTAL_FAULT_POINT names that point, in which
case the process kills itself with SIGKILL on the spot — no exception handler, `finally` or
atexit runs, exactly as when the kernel's OOM killer or `kill -9` takes a worker. The tests
set it for one child process at a time to prove that a crash at each step of a key change or
a rotation leaves nothing that `reconcile_audit`, `finish_rotations` and Resume/Abort cannot
resolve. The points:

- `audit.<action>.pending`: the record's pending row has committed, nothing else happened;
- `venice.<METHOD>.answered`: Venice answered a POST/PATCH/DELETE; the portal knows nothing
  of it yet;
- `audit.<action>.finishing`: the step's work is done, its record not finished yet.

The variable is read at each point (one dictionary lookup), so setting it needs no restart
of anything but the child that should die.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "PORTAL_FAULT_POINT"


def fault_point(name: str) -> None:
    if os.environ.get(ENVIRONMENT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
