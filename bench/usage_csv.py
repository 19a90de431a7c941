"""Figure 4: /billing/usage.csv over 200,000 ledger entries: memory and throughput.

The sandbox's ledger lives in this process, so it is built first and is the baseline. Memory is
tracemalloc's peak of Python allocations during the export minus what was allocated when it
began (allocations, not RSS: the allocator's free lists and the OS's accounting make RSS growth
noisy at this size; RSS growth is printed alongside). Tracing slows Python down, so throughput
is measured on a separate, untraced export.

The export is the readable ledger (models, units, costs per currency: the default), with the
form's dates cleared (`?start=&end=`) so it walks the whole history; without dates it would
export the current day only, as the page shows.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

from bench import env
from bench.harness import Compare, Result

ENTRIES = 200_000
TARGET_MB = 50.0
MB = 1024 * 1024


def run() -> list[Result]:
    env.migrate()
    rss_before_ledger = _rss()
    sandbox = env.fresh_sandbox()
    sandbox.add_usage_entries(ENTRIES - len(sandbox.ledger), seed=4)
    if len(sandbox.ledger) != ENTRIES:
        raise RuntimeError(f"the ledger holds {len(sandbox.ledger)} entries, not {ENTRIES}")
    ledger_mb = (_rss() - rss_before_ledger) / MB
    client = env.admin_client()

    _export(client)  # warm up (and check the whole file arrives)
    seconds, rows = env.timed(lambda: _export(client))
    if rows != ENTRIES:
        raise RuntimeError(f"the export has {rows} rows, not {ENTRIES}")

    sampler = _RSSSampler()
    tracemalloc.start()
    start_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with sampler:
        _export(client)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    growth_mb = (peak_bytes - start_bytes) / MB

    return [
        Result(
            figure=f"/billing/usage.csv of {ENTRIES:,} entries: peak memory growth",
            value=growth_mb,
            unit="MB",
            limit=TARGET_MB,
            compare=Compare.AT_MOST,
            note=(
                f"tracemalloc peak during the export over its start; RSS grew "
                f"{sampler.growth / MB:.1f} MB (sampled every 5 ms); baseline: the sandbox's "
                f"ledger, built before, took {ledger_mb:.0f} MB of RSS"
            ),
        ),
        Result(
            figure="/billing/usage.csv throughput",
            value=rows / seconds,
            unit="rows/s",
            decimals=0,
            note=f"{rows:,} rows in {seconds:.2f} s, untraced, sandbox in process",
        ),
    ]


def _export(client) -> int:
    """Stream the export like a browser would, holding one chunk at a time; the row count."""
    response = client.get("/billing/usage.csv?start=&end=")
    if response.status_code != 200:
        raise RuntimeError(f"/billing/usage.csv answered {response.status_code}")
    lines = 0
    tail = b""
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        tail = chunk[-200:] or tail
    response.close()
    if b"ERROR," in tail:
        raise RuntimeError(f"the export ended with an error line: {tail!r}")
    return lines - 1  # the header


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


class _RSSSampler:
    """The highest RSS seen while the block runs, over the RSS when it began."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.growth = 0
        self._stop = threading.Event()

    def __enter__(self):
        self._start = _rss()
        self._peak = self._start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss())
        self.growth = self._peak - self._start
