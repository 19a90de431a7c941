"""Fault injection, scriptable per path and method.

    sandbox.faults.inject("/api_keys", "POST", status=503, times=2)
    sandbox.faults.inject("*", "*", latency=0.2, rate=0.5)
    sandbox.faults.inject("/billing/balance", timeout="before")

Each call to the sandbox takes the first matching fault that fires (most recent first); a fault
with `times` is used up after that many calls; one with `rate` fires for that fraction of calls,
drawn from a seeded random generator so a run is repeatable.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field

TIMEOUT_BEFORE = "before"  # connect timeout: nothing happens upstream
TIMEOUT_AFTER = "after"  # read timeout: the request takes effect, the answer never comes


@dataclass
class Fault:
    path: str
    method: str
    status: int | None = None
    latency: float = 0.0
    timeout: str | None = None
    malformed: bool = False
    drop: bool = False
    reset_after: float | None = None
    times: int | None = None
    rate: float | None = None
    fired: int = field(default=0, compare=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method != method.upper():
            return False
        return self.path == "*" or self.path == path or fnmatch.fnmatchcase(path, self.path)

    @property
    def used_up(self) -> bool:
        return self.times is not None and self.fired >= self.times

    @property
    def happens_upstream(self) -> bool:
        """Whether the request reaches the simulated account (and may change it)."""
        if self.drop or self.timeout == TIMEOUT_BEFORE or self.status is not None:
            return False
        return True


class Faults:
    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def inject(
        self,
        path: str = "*",
        method: str = "GET",
        *,
        status: int | None = None,
        latency: float = 0.0,
        timeout: str | None = None,
        malformed: bool = False,
        drop: bool = False,
        reset_after: float | None = None,
        times: int | None = None,
        rate: float | None = None,
    ) -> Fault:
        if timeout not in (None, TIMEOUT_BEFORE, TIMEOUT_AFTER):
            raise ValueError('timeout must be None, "before" or "after"')
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError("rate must be a fraction between 0 and 1")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an error status (4xx or 5xx)")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        if path != "*" and not path.startswith("/"):
            raise ValueError("path is relative to /api/v1 and starts with '/', or is '*'")
        fault = Fault(
            path=path,
            method=method.upper(),
            status=status,
            latency=latency,
            timeout=timeout,
            malformed=malformed,
            drop=drop,
            reset_after=reset_after,
            times=times,
            rate=rate,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this call, if any (and count it as fired)."""
        with self._lock:
            for fault in reversed(self._faults):
                if fault.used_up or not fault.matches(method, path):
                    continue
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                return fault
            return None
