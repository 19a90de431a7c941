"""The worst filter combination of /audit/ over the million records: a target, not a print.

Every combination of the filters a person can click — actor, action (one, or several), key,
outcome, date range; each present or not — is tried with the values that make a database work
hardest: the busiest actor, the commonest action and one its actor never does, the busiest
key, each outcome (pending and failed are rare: an index ending in time finds few of them and
must read far), and ranges of a day and a month, recent and years back. Each URL is read once,
as a person clicking it would (the figure: the slowest, ≤ 250 ms, issue 18), and again at
once (printed: the same pages from the database's cache).
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlencode

from bench import env
from bench.harness import Compare, Result

TARGET_MS = 250.0
OUTCOMES = ("pending", "failed", "succeeded")


def _values(now: datetime) -> dict[str, list[dict]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT actor_username, COUNT(*) FROM accounts_auditevent GROUP BY actor_username "
            "ORDER BY 2 DESC LIMIT 1"
        )
        busiest_actor = cursor.fetchone()[0]
        cursor.execute(
            "SELECT key_id, COUNT(*) FROM accounts_auditevent WHERE key_id <> '' "
            "GROUP BY key_id ORDER BY 2 DESC LIMIT 1"
        )
        busiest_key = cursor.fetchone()[0]
        cursor.execute("SELECT action, COUNT(*) FROM accounts_auditevent GROUP BY action")
        actions = Counter(dict(cursor.fetchall()))

    def days(start: float, length: int) -> dict:
        first = (now - timedelta(days=start)).date()
        last = first + timedelta(days=length)
        return {"date_from": first.isoformat(), "date_to": last.isoformat()}

    common = [action for action, _ in actions.most_common(2)]
    return {
        "actor": [{"actor": busiest_actor}],
        # The commonest action, and one the busiest (a key manager) never does.
        "action": [
            {"action": common[0]},
            {"action": "billing.usage_exported"},
            {"action": common},
        ],
        "key": [{"key": busiest_key}],
        "outcome": [{"outcome": outcome} for outcome in OUTCOMES],
        "dates": [days(1, 1), days(31, 30), days(700, 30)],
    }


def combinations(now: datetime) -> list[dict]:
    values = _values(now)
    names = list(values)
    queries = []
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            for parts in itertools.product(*(values[name] for name in chosen)):
                query: dict = {}
                for part in parts:
                    query.update(part)
                queries.append(query)
    return queries


def run(client, *, now: datetime, name: str) -> Result:
    times, again = [], []
    for query in combinations(now):
        url = "/audit/?" + urlencode(query, doseq=True)
        seconds, _ = env.timed(lambda url=url: env.get(client, url))
        times.append((seconds * 1000, query))
        seconds, _ = env.timed(lambda url=url: env.get(client, url))
        again.append(seconds * 1000)
    times.sort(key=lambda pair: pair[0], reverse=True)
    worst_ms, worst = times[0]
    runner_up = ", ".join(
        f"{ms:.0f} ms {urlencode(query, doseq=True) or 'no filter'}" for ms, query in times[1:3]
    )
    return Result(
        figure=f"/audit/ worst filter combination, 1,000,000 records ({name})",
        value=worst_ms,
        unit="ms",
        limit=TARGET_MS,
        compare=Compare.AT_MOST,
        note=(
            f"{name}: {len(times)} combinations of actor, action (one or two), key, outcome and "
            f"dates at their hardest values, each read once (the figure) and again at once (worst "
            f"{max(again):.0f} ms); worst {urlencode(worst, doseq=True) or 'no filter'}; "
            f"next {runner_up}"
        ),
    )
