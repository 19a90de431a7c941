"""Figures 2 and 3: the keys page's cache, and its own time at 500 keys.

2. A second view of /keys/ within the cache's TTL must not call Venice (`sandbox.received`).
3. With 500 keys (Venice's maximum), the server's time beyond the upstream call: each run
   starts with a cold cache, and the time spent inside the client's HTTP exchange with the
   sandbox (`env.UpstreamTimer`) is subtracted from the view's total. Decoding, parsing,
   flagging, sorting and rendering the 500 keys stay in: they are the portal's work.
"""

from __future__ import annotations

from bench import env
from bench.harness import Compare, Result, median, percentile

WARMUP = 3
RUNS = 25
TARGET_MS = 50.0
KEYS = 500


SPREAD_RUNS = 70
SPREAD_TARGET = 1.5


def run() -> list[Result]:
    return [_second_view_calls(), _server_time_at_500(), _spread_at_500()]


def _second_view_calls() -> Result:
    from django.core.cache import cache

    env.migrate()
    sandbox = env.fresh_sandbox()
    client = env.admin_client()
    cache.clear()
    env.get(client, "/keys/")
    first = len(sandbox.received)
    env.get(client, "/keys/")
    calls = len(sandbox.received) - first
    return Result(
        figure="upstream calls by a 2nd view of /keys/ within the cache TTL",
        value=calls,
        unit="calls",
        limit=0,
        compare=Compare.EQUAL,
        decimals=0,
        note=f"the first view made {first} call(s)",
    )


def _server_time_at_500() -> Result:
    from django.core.cache import cache

    sandbox = env.fresh_sandbox()
    env.fill_keys(sandbox, KEYS)
    client = env.admin_client()
    timer = env.UpstreamTimer()
    try:
        response = env.get(client, "/keys/")
        if f"{KEYS} of {KEYS} keys" not in response.content.decode():
            raise RuntimeError(f"/keys/ does not list {KEYS} keys")
        own, upstream, warm = [], [], []
        for index in range(WARMUP + RUNS):
            cache.clear()
            timer.reset()
            seconds, _ = env.timed(lambda: env.get(client, "/keys/"))
            if timer.calls != 1:
                raise RuntimeError(f"/keys/ made {timer.calls} upstream calls, not 1")
            # The same page again, from the cache: what most views within the TTL cost.
            warm_seconds, _ = env.timed(lambda: env.get(client, "/keys/"))
            if index >= WARMUP:
                own.append(seconds - timer.seconds)
                upstream.append(timer.seconds)
                warm.append(warm_seconds)
    finally:
        timer.close()
    own_ms = [seconds * 1000 for seconds in own]
    return Result(
        figure=f"/keys/ with {KEYS} keys: server time beyond the upstream call, median",
        value=median(own_ms),
        unit="ms",
        limit=TARGET_MS,
        compare=Compare.AT_MOST,
        note=(
            f"p95 {percentile(own_ms, 95):.1f} ms over {RUNS} cold-cache views; the upstream "
            f"call itself (sandbox in process) {median(upstream) * 1000:.1f} ms; a view from "
            f"the cache {median(warm) * 1000:.1f} ms in all (medians)"
        ),
    )


def _cold_views(client, runs: int) -> list[float]:
    from django.core.cache import cache

    times = []
    for _ in range(runs):
        cache.clear()
        seconds, _ = env.timed(lambda: env.get(client, "/keys/"))
        times.append(seconds * 1000)
    return times


def _spread_at_500() -> Result:
    """p95 ÷ median of cold /keys/ views at 500 keys, with the garbage collector as gunicorn's
    workers have it (portal/memory.py: frozen after boot, higher thresholds), measured after
    the same views with Python's defaults in this process (the "before")."""
    import gc

    from portal.memory import tune_garbage_collector

    sandbox = env.fresh_sandbox()
    env.fill_keys(sandbox, KEYS)
    client = env.admin_client()
    _cold_views(client, WARMUP)
    before = _cold_views(client, SPREAD_RUNS)
    tune_garbage_collector()
    try:
        after = _cold_views(client, SPREAD_RUNS)
    finally:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
    ratio_before = percentile(before, 95) / median(before)
    ratio = percentile(after, 95) / median(after)
    return Result(
        figure=f"/keys/ with {KEYS} keys: p95 ÷ median (gc frozen after boot, as in workers)",
        value=ratio,
        unit="×",
        limit=SPREAD_TARGET,
        compare=Compare.AT_MOST,
        decimals=2,
        note=(
            f"{SPREAD_RUNS} cold views each: tuned median {median(after):.1f} ms, p95 "
            f"{percentile(after, 95):.1f} ms; Python's defaults before it in the same process: "
            f"median {median(before):.1f} ms, p95 {percentile(before, 95):.1f} ms "
            f"({ratio_before:.2f}×)"
        ),
    )
