"""A circuit breaker whose state lives in the Django cache, so every worker shares it.

Venice blocks a caller for 30 s once more than 20 of its requests in 30 s end in a non-success
status (any 4xx or 5xx). Two mechanisms keep the portal (all its workers together) under that
line, whatever its callers do:

1. The classic breaker. `threshold` consecutive upstream failures (5xx, timeouts, connection
   errors; never 4xx) open the circuit: every call fails fast with `UpstreamUnavailableError`
   for `cooldown` seconds. Then one trial call is let through (half-open); its success closes
   the circuit, its failure opens it for another cool-down.
2. A failure budget, which makes the bound hold under any concurrency. Before it is sent, each
   request reserves a slot in a window of `window` seconds and gives it back when it
   succeeded (2xx); a request is refused when failures plus requests still in flight in the
   last `window` seconds would exceed `budget`. So at most `budget` requests can fail in any
   `window` seconds, even when fifty threads call at the moment Venice goes down, at the price
   of at most `budget` requests in flight at once across the portal (plenty for one team).
   Here a 4xx answer counts too, because it counts for Venice: a burst of lookups of deleted
   keys would otherwise get the portal's key blocked. It does not open the circuit (Venice is
   up), it only spends budget.

A request refused only because the budget is held by requests still in flight (none of them
failed yet) waits up to `queue_wait` seconds for a slot instead: that is a busy moment, not
an outage, and most of those requests will give their slot back within Venice's latency.
So many threads at once, or a worker's smaller share of the budget while Redis is down, slow
pages a little rather than fail them. A budget spent on failures refuses at once.

The window is counted in buckets of `window / 3` seconds: at admission the current bucket and
the three before it are summed, which covers at least the last `window` seconds, so the bound
holds for every sliding window, not only aligned ones. Bucket keys expire on their own, so a
worker that dies with a reservation held costs a slot for a minute at most.

Cache operations are `add`/`incr`/`decr` (atomic on Redis and on the local-memory cache); the
rest is tolerated races: two workers opening the circuit at once both set the same state.

When the shared cache (Redis) is down, the counts move to a local-memory cache of this
process, and the budget becomes `budget // workers` (`VENICE_BREAKER_WORKERS`, at least 1): each
process counts alone, so all of them together still stay within `budget`. As soon as Redis
answers again, the shared counts are used again (what was counted locally is not carried over:
the buckets it would have joined expire within a minute anyway).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from accounts.cache import cache_available
from accounts.venice.errors import UpstreamUnavailableError

logger = logging.getLogger("accounts.venice")

OPEN_MESSAGE = "Venice is not answering: the portal paused its calls after repeated failures."
BUDGET_MESSAGE = (
    "Too many of the portal's recent calls to Venice failed: it is holding back for a few "
    "seconds so that Venice does not block its key."
)


# How often a request waiting for a slot looks again.
QUEUE_POLL = 0.02

# This process's counts while the shared cache is down (one for every breaker: keys are scoped).
_local_counts = LocMemCache("venice-breaker-local", {"OPTIONS": {"MAX_ENTRIES": 10000}})


@dataclass
class Ticket:
    """One admitted request: the window slot it holds, whether it is the half-open trial, and
    the counts it was admitted on (shared or this process's), which settle it too: Redis may
    come or go while the request is out."""

    slot: str
    in_flight: str
    trial: bool
    counts: object
    settled: bool = False


class CircuitBreaker:
    def __init__(
        self,
        *,
        scope: str,
        clock: Callable[[], float],
        cache_alias: str = "default",
        threshold: int = 5,
        cooldown: float = 30.0,
        budget: int = 18,
        window: float = 30.0,
        trial_timeout: float = 60.0,
        workers: int | None = None,
        queue_wait: float = 0.0,
    ):
        self.scope = scope
        self.clock = clock
        self.cache_alias = cache_alias
        self.threshold = threshold
        self.cooldown = cooldown
        self.budget = budget
        self.window = window
        self.bucket_width = window / 3
        # A trial whose worker died must not hold the half-open slot for ever.
        self.trial_timeout = trial_timeout
        self.workers = workers
        self.queue_wait = queue_wait

    # The cache handler is per thread (and per process): look it up on each use.
    @property
    def cache(self):
        if cache_available(self.cache_alias):
            return caches[self.cache_alias]
        return _local_counts

    @property
    def shared(self) -> bool:
        """Whether the counts are the shared ones (else this process's own, Redis being down)."""
        return cache_available(self.cache_alias)

    def _budget(self, counts) -> int:
        if counts is not _local_counts:
            return self.budget
        from django.conf import settings

        workers = self.workers or getattr(settings, "VENICE_BREAKER_WORKERS", 1)
        return max(1, self.budget // workers)

    def _key(self, name: str) -> str:
        return f"venice:v1:breaker:{self.scope}:{name}"

    @property
    def _open_key(self) -> str:
        return self._key("open-until")

    @property
    def _trial_key(self) -> str:
        return self._key("trial")

    @property
    def _failures_key(self) -> str:
        return self._key("failures")

    def _in_flight_key(self, bucket: int) -> str:
        return self._key(f"in-flight:{bucket}")

    def _slot_key(self, bucket: int) -> str:
        return self._key(f"slots:{bucket}")

    @staticmethod
    def _incr(counts, key: str, timeout: float | None) -> int:
        counts.add(key, 0, timeout=timeout)
        try:
            return counts.incr(key)
        except ValueError:  # expired between add and incr
            counts.set(key, 1, timeout=timeout)
            return 1

    @staticmethod
    def _decr(counts, key: str) -> None:
        try:
            counts.decr(key)
        except ValueError:  # already expired (or Redis went away): nothing to give back
            pass

    # --- state --------------------------------------------------------------------------------

    def state(self) -> str:
        """ "closed", "open" (failing fast) or "half-open" (the next call is the trial)."""
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return "closed"
        return "open" if self.clock() < open_until else "half-open"

    def reset(self) -> None:
        self.cache.delete_many([self._open_key, self._trial_key, self._failures_key])

    def _error(self, message: str, retry_at: float | None) -> UpstreamUnavailableError:
        when = datetime.fromtimestamp(retry_at, UTC) if retry_at is not None else None
        return UpstreamUnavailableError(message, request_sent=False, retry_at=when)

    # --- one request --------------------------------------------------------------------------

    def admit(self) -> Ticket:
        """Let one request through, or raise `UpstreamUnavailableError` without sending it
        (after waiting for a slot when only requests in flight hold the budget)."""
        deadline = time.monotonic() + self.queue_wait
        while True:
            ticket, retry_at, in_flight = self._try_admit()
            if ticket is not None:
                return ticket
            if not in_flight or time.monotonic() + QUEUE_POLL > deadline:
                break
            time.sleep(QUEUE_POLL)
        # Once per bucket, not once per refused call: an incident must not flood the log.
        bucket = int(self.clock() // self.bucket_width)
        if self.cache.add(self._key(f"budget-logged:{bucket}"), 1, timeout=self.window):
            logger.warning("Venice failure budget spent: refusing calls for a few seconds")
        raise self._error(BUDGET_MESSAGE, retry_at)

    def _try_admit(self) -> tuple[Ticket | None, float, int]:
        """(the ticket, or None with when to retry and how many requests are in flight);
        raises while the circuit is open."""
        counts = self.cache  # one choice for the whole admission
        now = self.clock()
        bucket = int(now // self.bucket_width)
        earlier = [self._slot_key(bucket - back) for back in range(1, 4)]
        # Counted per bucket like the slots, so that a worker dying mid-request, or Redis
        # coming back, leaves no count behind beyond the window. A hint, not a bound: it
        # only decides between waiting for a slot and refusing at once.
        flights = [self._in_flight_key(bucket - back) for back in range(4)]
        values = counts.get_many([self._open_key, *flights, *earlier])
        open_until = values.pop(self._open_key, None)
        in_flight = max(0, sum(int(values.pop(key, 0) or 0) for key in flights))
        trial = False
        if open_until is not None:
            if now < open_until:
                raise self._error(OPEN_MESSAGE, open_until)
            # Cool-down over: exactly one caller (across workers) wins the trial.
            if not counts.add(self._trial_key, now, timeout=self.trial_timeout):
                raise self._error(OPEN_MESSAGE, now + self.trial_timeout)
            trial = True
        slot = self._slot_key(bucket)
        held = self._incr(counts, slot, timeout=self.window * 2) + sum(
            int(v) for v in values.values()
        )
        if held > self._budget(counts):
            self._decr(counts, slot)
            if trial:
                counts.delete(self._trial_key)
            return None, (bucket + 1) * self.bucket_width, in_flight
        flight = self._in_flight_key(bucket)
        self._incr(counts, flight, timeout=self.window * 2)
        if self.cache is not counts:
            # Redis failed during this admission, so nothing of it was counted: count it
            # again on this process's counts, or the call would be a failure no one counted.
            return self._try_admit()
        return Ticket(slot=slot, in_flight=flight, trial=trial, counts=counts), 0.0, in_flight

    def succeeded(self, ticket: Ticket) -> None:
        """Venice answered 2xx: give the slot back, reset the count, close after a trial."""
        self._answered(ticket, give_back=True)

    def refused(self, ticket: Ticket) -> None:
        """Venice answered 4xx: it is up (reset the count, close after a trial), but Venice
        counts the answer as a failed request, so the slot stays spent."""
        self._answered(ticket, give_back=False)

    def _answered(self, ticket: Ticket, *, give_back: bool) -> None:
        if ticket.settled:
            return
        ticket.settled = True
        counts = ticket.counts
        self._decr(counts, ticket.in_flight)
        if give_back:
            self._decr(counts, ticket.slot)
        else:
            self._keep_spent(ticket)
        if counts.get(self._failures_key):
            counts.set(self._failures_key, 0, timeout=self.cooldown * 20)
        if ticket.trial:
            counts.delete_many([self._open_key, self._trial_key])
            logger.info("Venice answered the trial call: circuit closed")

    def _keep_spent(self, ticket: Ticket) -> None:
        """A spent slot counted in Redis that went away while the call was out is lost with
        it: count it here too, so this process's share still sees that failure."""
        if ticket.counts is not _local_counts and self.cache is _local_counts:
            self._incr(_local_counts, ticket.slot, timeout=self.window * 2)

    def release(self, ticket: Ticket) -> None:
        """Neither success nor failure (the call broke on our side): give back the slot and
        the trial, change nothing else."""
        if ticket.settled:
            return
        ticket.settled = True
        counts = ticket.counts
        self._decr(counts, ticket.in_flight)
        self._decr(counts, ticket.slot)
        if ticket.trial:
            counts.delete(self._trial_key)

    def failed(self, ticket: Ticket) -> None:
        """The upstream failed (5xx, timeout, connection error): keep the slot, count it."""
        if ticket.settled:
            return
        ticket.settled = True
        counts = ticket.counts
        self._decr(counts, ticket.in_flight)
        self._keep_spent(ticket)
        failures = self._incr(counts, self._failures_key, timeout=self.cooldown * 20)
        if ticket.trial or failures >= self.threshold:
            open_until = self.clock() + self.cooldown
            counts.set(self._open_key, open_until, timeout=None)
            counts.set(self._failures_key, 0, timeout=self.cooldown * 20)
            counts.delete(self._trial_key)
            if ticket.trial:
                logger.warning(
                    "Venice failed the trial call: circuit open for %.0f s", self.cooldown
                )
            else:
                logger.warning(
                    "Venice failed %s times in a row: circuit open for %.0f s",
                    failures,
                    self.cooldown,
                )
