"""The circuit breaker on its own: states, the shared cache, and the failure bound under
arbitrary interleavings of many callers (a simulation driven by a fake clock)."""

import random
import threading

import pytest
from django.core.cache import cache
from requests.adapters import BaseAdapter

from accounts.sandbox import SANDBOX_BASE_URL
from accounts.venice import APIKeyError
from accounts.venice.breaker import CircuitBreaker
from accounts.venice.errors import UpstreamUnavailableError
from tests.fixtures.venice import FakeClock

VENICE_LIMIT = 20  # Venice blocks callers after more than 20 failures in 30 s
BREAKER_OPTIONS: dict = {}  # the defaults are what is proven


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def breaker(clock, **options):
    return CircuitBreaker(scope="test", clock=clock, **options)


def test_it_opens_after_the_threshold_of_consecutive_failures():
    clock = FakeClock()
    circuit = breaker(clock, threshold=3)
    for _ in range(3):
        assert circuit.state() == "closed"
        circuit.failed(circuit.admit())

    assert circuit.state() == "open"
    with pytest.raises(UpstreamUnavailableError) as refused:
        circuit.admit()
    assert refused.value.request_sent is False
    assert refused.value.retry_at.timestamp() == pytest.approx(clock() + 30)


def test_a_success_resets_the_consecutive_count():
    circuit = breaker(FakeClock(), threshold=3)
    for _ in range(2):
        circuit.failed(circuit.admit())
    circuit.succeeded(circuit.admit())
    for _ in range(2):
        circuit.failed(circuit.admit())

    assert circuit.state() == "closed"


def test_after_the_cooldown_one_trial_is_let_through_and_its_success_closes():
    clock = FakeClock()
    circuit = breaker(clock, threshold=1, cooldown=30)
    circuit.failed(circuit.admit())
    clock.advance(30)

    assert circuit.state() == "half-open"
    trial = circuit.admit()
    with pytest.raises(UpstreamUnavailableError):
        circuit.admit()  # only one trial at a time, across workers
    circuit.succeeded(trial)

    assert circuit.state() == "closed"
    circuit.succeeded(circuit.admit())


def test_a_failed_trial_opens_the_circuit_for_another_cooldown():
    clock = FakeClock()
    circuit = breaker(clock, threshold=1, cooldown=30)
    circuit.failed(circuit.admit())
    clock.advance(31)
    circuit.failed(circuit.admit())

    assert circuit.state() == "open"
    clock.advance(29)
    assert circuit.state() == "open"
    clock.advance(1)
    assert circuit.state() == "half-open"


def test_the_state_is_shared_by_every_breaker_on_the_same_cache():
    clock = FakeClock()
    one, other = breaker(clock, threshold=2), breaker(clock, threshold=2)
    one.failed(one.admit())
    other.failed(other.admit())

    assert one.state() == other.state() == "open"


def test_requests_in_flight_count_against_the_budget():
    circuit = breaker(FakeClock(), budget=3)
    held = [circuit.admit() for _ in range(3)]
    with pytest.raises(UpstreamUnavailableError):
        circuit.admit()
    circuit.succeeded(held[0])  # its slot comes back

    circuit.admit()


def test_a_request_beyond_the_budget_waits_for_one_in_flight_to_finish():
    """A full budget of requests still in flight is a queue, not a refusal: many threads (or
    a worker's smaller share while Redis is down) must not turn busy moments into errors."""
    circuit = breaker(FakeClock(), budget=2, queue_wait=10)
    held = [circuit.admit() for _ in range(2)]
    admitted = threading.Event()
    waiter = threading.Thread(target=lambda: (circuit.admit(), admitted.set()))
    waiter.start()
    assert not admitted.wait(0.2)  # still waiting: both slots are held
    circuit.succeeded(held[0])
    waiter.join(timeout=5)

    assert admitted.is_set()


def test_a_request_waits_no_longer_than_its_queue_wait():
    circuit = breaker(FakeClock(), budget=1, queue_wait=0.2)
    circuit.admit()  # in flight, and never finishes

    with pytest.raises(UpstreamUnavailableError, match="holding back"):
        circuit.admit()


def test_a_budget_spent_on_failures_refuses_at_once_however_long_the_queue_wait():
    circuit = breaker(FakeClock(), budget=2, threshold=10, queue_wait=600)
    circuit.failed(circuit.admit())
    circuit.refused(circuit.admit())
    outcome = []

    def third():
        try:
            outcome.append(circuit.admit())
        except UpstreamUnavailableError as refused:
            outcome.append(refused)

    waiting = threading.Thread(target=third, daemon=True)
    waiting.start()
    waiting.join(timeout=5)

    # Refused, not queued: nothing in flight will give a slot back.
    assert len(outcome) == 1 and isinstance(outcome[0], UpstreamUnavailableError)


def test_a_4xx_answer_spends_budget_but_never_opens_the_circuit():
    circuit = breaker(FakeClock(), budget=3, threshold=1)
    for _ in range(3):
        circuit.refused(circuit.admit())

    assert circuit.state() == "closed"
    with pytest.raises(UpstreamUnavailableError, match="holding back"):
        circuit.admit()


@pytest.mark.parametrize("seed", range(5))
def test_no_interleaving_of_callers_gets_more_than_20_failures_into_any_30_seconds(seed):
    """Fifty callers, each with up to one request in flight, act in random order while the
    upstream fails every request; requests take random times. Whatever the order, the
    failures admitted in any 30-second window stay within Venice's limit."""
    rng = random.Random(seed)
    clock = FakeClock()
    circuits = [breaker(clock) for _ in range(4)]  # four workers sharing the cache
    in_flight: list[tuple[float, CircuitBreaker, object]] = []  # (ends at, breaker, ticket)
    failures_at: list[float] = []
    for _ in range(5000):
        clock.advance(rng.choice([0, 0, 0.01, 0.1, 0.5, 2]))
        # Requests whose time is up fail.
        for done in [item for item in in_flight if item[0] <= clock()]:
            in_flight.remove(done)
            done[1].failed(done[2])
        if len(in_flight) < 50:
            circuit = rng.choice(circuits)
            try:
                ticket = circuit.admit()
            except UpstreamUnavailableError:
                continue
            failures_at.append(clock())
            in_flight.append((clock() + rng.uniform(0, 20), circuit, ticket))

    assert len(failures_at) > 30  # the simulation did push
    worst = max(sum(1 for t in failures_at if start <= t < start + 30) for start in failures_at)
    assert worst <= VENICE_LIMIT


# --- over the real stack: the client, requests, the sandbox -------------------------------------


class Recording(BaseAdapter):
    """The sandbox's adapter, noting the (fake) time at which each request reached it."""

    def __init__(self, inner, clock, log):
        super().__init__()
        self.inner, self.clock, self.log = inner, clock, log

    def send(self, request, **kwargs):
        self.log.append(self.clock())
        return self.inner.send(request, **kwargs)

    def close(self):
        pass


def test_the_client_fails_fast_once_the_circuit_is_open(venice, sandbox):
    sandbox.faults.inject("/billing/balance", status=503)
    with pytest.raises(UpstreamUnavailableError):
        venice.billing.get_balance()  # three attempts
    with pytest.raises(UpstreamUnavailableError):
        venice.billing.get_balance()  # two more open the circuit; the third is refused
    assert len(sandbox.received) == 5
    assert venice.breaker.state() == "open"

    with pytest.raises(UpstreamUnavailableError, match="paused") as refused:
        venice.api_keys.list()  # every endpoint of the account fails fast
    assert len(sandbox.received) == 5
    assert refused.value.request_sent is False
    assert isinstance(refused.value, APIKeyError)


def test_after_the_cooldown_one_good_call_closes_the_circuit(venice, sandbox, venice_clock):
    fault = sandbox.faults.inject("/billing/balance", status=503)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailableError):
            venice.billing.get_balance()
    sandbox.faults.remove(fault)
    venice_clock.advance(30)

    assert venice.breaker.state() == "half-open"
    assert venice.billing.get_balance()
    assert venice.breaker.state() == "closed"
    assert venice.api_keys.list()


def test_a_failed_trial_keeps_the_circuit_open(venice, sandbox, venice_clock):
    sandbox.faults.inject("/billing/balance", status=503)
    for _ in range(2):
        with pytest.raises(UpstreamUnavailableError):
            venice.billing.get_balance()
    venice_clock.advance(30)
    received = len(sandbox.received)

    with pytest.raises(UpstreamUnavailableError):
        venice.billing.get_balance()

    assert len(sandbox.received) == received + 1  # the trial, and no retry behind it
    assert venice.breaker.state() == "open"


def test_client_errors_never_open_the_circuit(venice, sandbox):
    for _ in range(10):
        assert venice.api_keys.get("no-such-key") is None

    assert venice.breaker.state() == "closed"


def test_a_burst_of_client_errors_stops_short_of_venices_block(venice, sandbox, venice_clock):
    """Venice (and the sandbox) block a key after more than 20 non-success answers in 30 s,
    4xx included: a burst of lookups of unknown keys must stop before that."""
    outcomes = []
    for _ in range(30):
        try:
            outcomes.append(venice.api_keys.get("no-such-key"))
        except UpstreamUnavailableError:
            outcomes.append("held back")
        venice_clock.advance(0.1)

    assert outcomes.count(None) == 18 and outcomes.count("held back") == 12
    assert not any(exchange.response.status == 429 for exchange in sandbox.exchanges)
    venice_clock.advance(40)  # the failures age out of the window
    assert venice.api_keys.list()
    assert not any(exchange.response.status == 429 for exchange in sandbox.exchanges)


def test_whatever_the_callers_do_at_most_20_failures_reach_venice_in_30_seconds(
    make_venice, sandbox, venice_clock
):
    """Four workers of eight threads each hammer an account whose Venice is down, with every
    kind of upstream failure, while time moves on; no 30-second window sees more than 20."""
    # The most recent fault is tried first: 503s, else read timeouts, else dropped connections,
    # each after a little real latency so that many requests are in flight at once.
    sandbox.faults.inject("*", "*", drop=True, latency=0.02)
    sandbox.faults.inject("*", "*", timeout="after", rate=0.5, latency=0.02)
    sandbox.faults.inject("*", "*", status=503, rate=0.6, latency=0.02)
    reached: list[float] = []
    workers = []
    for _ in range(4):
        client = make_venice(cache_ttl=0, **BREAKER_OPTIONS)
        client.transport.session.mount(
            SANDBOX_BASE_URL, Recording(sandbox.adapter(), venice_clock, reached)
        )
        workers.append(client)

    def caller(client, seed):
        rng = random.Random(seed)
        for _ in range(25):
            call = rng.choice(
                [
                    client.api_keys.list,
                    client.billing.get_balance,
                    lambda: client.api_keys.create("Never made"),
                    lambda: client.api_keys.delete("k"),
                ]
            )
            try:
                call()
            except UpstreamUnavailableError:
                pass
            venice_clock.advance(rng.choice([0, 0.1, 0.5, 1, 3]))

    threads = [
        threading.Thread(target=caller, args=(client, index * 10 + n))
        for index, client in enumerate(workers)
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 800 calls were made; some reached Venice whenever the breaker let them.
    assert len(reached) > 10
    reached.sort()
    worst = max(sum(1 for t in reached if start <= t < start + 30) for start in reached)
    print(f"{len(reached)} requests reached Venice; at most {worst} in any 30 s")
    assert worst <= VENICE_LIMIT
