"""Figure 1: the dashboard with 200 ms injected into every upstream call, over one call.

The dashboard needs six upstream calls for an Administrator (balance, rate limits, keys, 7 days
of analytics, the rate-limit log, and this month's analytics for the spend panel); run one
after another they would take six times one call. The baseline is one
call (`client.api_keys.list()`) with the same latency, the same cold cache, in the same process
and run; both are medians.
"""

from __future__ import annotations

from bench import env
from bench.harness import Compare, Result, median

LATENCY = 0.2
RUNS = 7
TARGET = 1.5
DASHBOARD_CALLS = 6


def run() -> list[Result]:
    from django.core.cache import cache

    from accounts.venice import get_client

    env.migrate()
    sandbox = env.fresh_sandbox()
    client = env.admin_client()
    for _ in range(2):  # warm up: templates compiled, the client and its thread pool made
        cache.clear()
        env.get(client, "/")

    sandbox.faults.inject("*", latency=LATENCY)
    single, page = [], []
    for _ in range(RUNS):
        cache.clear()
        seconds, _ = env.timed(get_client().api_keys.list)
        single.append(seconds)

        cache.clear()
        before = len(sandbox.received)
        seconds, _ = env.timed(lambda: env.get(client, "/"))
        calls = len(sandbox.received) - before
        if calls != DASHBOARD_CALLS:
            raise RuntimeError(f"the dashboard made {calls} upstream calls, not {DASHBOARD_CALLS}")
        page.append(seconds)
    sandbox.faults.clear()

    one, dashboard = median(single), median(page)
    return [
        Result(
            figure="dashboard with 200 ms per upstream call ÷ one call",
            value=dashboard / one,
            unit="×",
            limit=TARGET,
            compare=Compare.AT_MOST,
            decimals=2,
            note=(
                f"dashboard {dashboard * 1000:.0f} ms ({DASHBOARD_CALLS} calls, cold cache) ÷ one "
                f"call {one * 1000:.0f} ms; medians of {RUNS}"
            ),
        )
    ]
