"""Figure 5: a filtered /audit/ page over 1,000,000 audit records, p95.

The records are inserted with raw SQL (the ORM refuses bulk_create on AuditEvent by design, and
sealing a million records one by one would take hours); their hash chain is not valid, which the
page does not read. They are shaped like a real log of three years: most changes by a few busy
people and automations, finance and auditors exporting, key ids reused across a key's life,
rotations in their steps, a few percent failed, a handful pending, and more activity lately.

The measured mix is what people filter by: one actor, action, key, outcome or date range, pairs
of them (some matching nothing, which makes the database prove it), the unfiltered page and the
"Older →" page after a filtered one. Each request is the full page (with the drift panel) as a
link or a browser without JavaScript gets it; the HTMX fragment the filter form swaps in is
timed alongside and printed.

SQLite's database is built once per schema and dataset version and kept under var/bench/;
PostgreSQL's is built in the throwaway database the parent created.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from bench import env
from bench.harness import Compare, Result, median, percentile

RECORDS = 1_000_000
DATASET_VERSION = 2  # bump when the generator below changes
SPAN_DAYS = 3 * 365
TARGET_MS = 50.0
WARMUP = 20
QUERIES = 240
KEY_POOL = 4000

FIGURE = "/audit/ filtered page, 1,000,000 records: p95"
_OLDER_LINK = re.compile(r'href="(/audit/\?[^"]*before=[^"]*)"')

COLUMNS = (
    "time",
    "actor_username",
    "actor_role",
    "action",
    "key_id",
    "key_description",
    "key_last6",
    "changes",
    "details",
    "ip",
    "user_agent",
    "request_id",
    "outcome",
    "error",
    "completed_at",
    "sequence",
    "previous_hash",
    "hash",
)

KEY_ACTIONS = (
    ("key.updated", 40),
    ("key.created", 14),
    ("key.deleted", 9),
    ("key.rotation.started", 7),
    ("key.rotation.replacement_created", 7),
    ("key.rotation.old_key_scheduled", 5),
    ("key.rotation.old_key_deleted", 5),
    ("key.rotation.completed", 6.5),
    ("key.rotation.failed", 0.3),
    ("key.rotation.aborted", 0.2),
)
UPSTREAM_FAILED = "UpstreamUnavailableError: Venice failed to answer (503)."
ALL_ACTIONS = [name for name, _ in KEY_ACTIONS] + ["audit.exported", "billing.usage_exported"]
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "manage.py reconcile_audit",
)


class Dataset:
    """The people, keys and addresses the records are drawn from (seeded: same every time)."""

    def __init__(self, seed: int = 1):
        rng = random.Random(seed)
        roles = (
            ["Administrator"] * 3  # the busiest: people and automation that rotate keys
            + ["Key manager"] * 17
            + ["Administrator"] * 6
            + ["Finance"] * 6
            + ["Auditor"] * 3
        )
        self.actors = [(f"user{index:02d}", role) for index, role in enumerate(roles)]
        # Zipf-like: the first few actors write most records.
        self.actor_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(self.actors))]
        self.keys = []
        for index in range(KEY_POOL):
            key_id = str(random.Random(seed * 100_000 + index).getrandbits(128))
            key_id = f"{key_id[:8]}-{key_id[8:12]}-{key_id[12:16]}-{key_id[16:20]}-{key_id[20:32]}"
            last6 = hashlib.sha256(key_id.encode()).hexdigest()[:6]
            self.keys.append((key_id, f"service {index:04d}", last6))
        self.key_weights = [1 / (rank + 20) for rank in range(KEY_POOL)]
        self.ips = [f"203.0.113.{n}" for n in range(1, 40)]
        self.ips += [f"198.51.100.{n}" for n in range(1, 20)]
        self.rng = rng


def generate(count: int = RECORDS, *, now: datetime, seed: int = 1) -> Iterator[tuple]:
    """`count` records in time order, as tuples in COLUMNS order (Python values). Every random
    choice is drawn for all records at once: a million records take seconds, not minutes."""
    data = Dataset(seed)
    rng = data.rng
    span = SPAN_DAYS * 86_400
    # More activity lately: offsets (seconds before now) bunch towards 0.
    offsets = sorted((span * rng.random() ** 1.6 for _ in range(count)), reverse=True)
    actors = rng.choices(range(len(data.actors)), weights=data.actor_weights, k=count)
    key_actions = rng.choices(
        [name for name, _ in KEY_ACTIONS], weights=[weight for _, weight in KEY_ACTIONS], k=count
    )
    keys = rng.choices(data.keys, weights=data.key_weights, k=count)
    rolls = [rng.random() for _ in range(count)]
    outcomes = [rng.random() for _ in range(count)]
    fields = ("description", "usd", "expires_at", "limit_period")
    start = now.timestamp()
    sequence = 0
    for index in range(count):
        username, role = data.actors[actors[index]]
        moment = datetime.fromtimestamp(start - offsets[index] - rng.random(), UTC)
        roll = rolls[index]
        if role == "Finance":
            action = "billing.usage_exported"
        elif role == "Auditor":
            action = "audit.exported"
        elif role == "Administrator" and roll < 0.01:
            action = "audit.exported"
        elif role == "Administrator" and roll < 0.02:
            action = "billing.usage_exported"
        else:
            action = key_actions[index]
        key_id = description = last6 = ""
        changes: dict = {}
        details: dict = {}
        if action.startswith("key."):
            key_id, description, last6 = keys[index]
            if action == "key.updated":
                changes = {fields[index % 4]: ["before", "after"]}
            elif action in ("key.created", "key.rotation.replacement_created"):
                details = {"api_key_type": "ADMIN" if roll > 0.95 else "INFERENCE"}
                if roll < 0.0002:
                    details["secret_lost"] = True
        elif action == "billing.usage_exported":
            details = {"filters": {}, "filename": "venice-usage.csv", "rows": index % 100_000}
        else:
            details = {"filters": {"actor": data.actors[index % 7][0]}, "rows": index % 5000}
        outcome_roll = outcomes[index]
        if outcome_roll < 0.965:
            outcome, error = "succeeded", ""
        elif outcome_roll < 0.999:
            outcome, error = "failed", UPSTREAM_FAILED
        else:
            outcome, error = "pending", ""
        if outcome == "pending":
            completed, seq, previous, digest = None, None, "", ""
        else:
            sequence += 1
            completed = moment + timedelta(milliseconds=50 + index % 850)
            seq, previous, digest = sequence, f"{sequence - 1:064x}", f"{sequence:064x}"
        yield (
            moment,
            username,
            role,
            action,
            key_id,
            description,
            last6,
            changes,
            details,
            data.ips[index % len(data.ips)],
            USER_AGENTS[index % len(USER_AGENTS)],
            f"{rng.getrandbits(128):032x}",
            outcome,
            error,
            completed,
            seq,
            previous,
            digest,
        )


# --- building the databases ---------------------------------------------------------------------


def _sqlite_time(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores: naive UTC, str() of the datetime.
    return None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))


def build_sqlite(path: str, *, now: datetime) -> None:
    """Insert the records into the (migrated) SQLite database at `path`. The audit indexes are
    dropped during the insert and made again after, which is much faster than keeping them
    up to date row by row."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-400000")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' "
            "AND tbl_name='accounts_auditevent' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        placeholders = ", ".join("?" for _ in COLUMNS)
        insert = f"INSERT INTO accounts_auditevent ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
        batch = []
        last = (0, "0" * 64)
        for row in generate(now=now):
            batch.append(
                (
                    _sqlite_time(row[0]),
                    *row[1:7],
                    json.dumps(row[7]),
                    json.dumps(row[8]),
                    *row[9:14],
                    _sqlite_time(row[14]),
                    *row[15:],
                )
            )
            if row[15] is not None:
                last = (row[15], row[17])
            if len(batch) >= 50_000:
                connection.executemany(insert, batch)
                batch.clear()
        if batch:
            connection.executemany(insert, batch)
        connection.execute("UPDATE accounts_auditchainhead SET sequence=?, hash=? WHERE id=1", last)
        connection.commit()
        for _, sql in indexes:
            connection.execute(sql)
        connection.commit()
    finally:
        connection.close()


def build_postgres(*, now: datetime) -> None:
    """COPY the records into the migrated PostgreSQL database Django is connected to (in
    autocommit, as Django leaves it), with the audit indexes made after the load; then VACUUM
    ANALYZE, as autovacuum would soon after such a load (without it every index-only scan
    visits the table too, which a database in service does not)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename='accounts_auditevent' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        last = (0, "0" * 64)
        copy_sql = f"COPY accounts_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:  # psycopg 3's COPY, under Django's wrapper
            for row in generate(now=now):
                copy.write_row((*row[:7], json.dumps(row[7]), json.dumps(row[8]), *row[9:]))
                if row[15] is not None:
                    last = (row[15], row[17])
        cursor.execute("UPDATE accounts_auditchainhead SET sequence=%s, hash=%s WHERE id=1", last)
        for _, sql in indexes:
            cursor.execute(sql)
        cursor.execute("VACUUM ANALYZE accounts_auditevent")


def sqlite_cache_path() -> str:
    """Where the built SQLite database is kept between runs: named by the schema's and the
    generator's versions, so a new migration or dataset builds a new one."""
    name = f"audit-{RECORDS // 1000}k-s{env.schema_version()}-d{DATASET_VERSION}.sqlite3"
    return str(env.VAR / name)


def _sqlite_database(connection) -> datetime:
    """Build the cached database unless a finished build is there; the moment it was built
    as of (its records end there), which the date filters count back from."""
    path = str(connection.settings_dict["NAME"])
    marker = path + ".built"
    if os.path.exists(marker):
        with open(marker) as handle:
            return datetime.fromisoformat(handle.read().strip())
    connection.close()
    for stale in env.VAR.glob("audit-*.sqlite3*"):
        stale.unlink()  # an interrupted build, or one of an older schema or dataset
    env.migrate()
    connection.close()
    now = datetime.now(UTC).replace(microsecond=0)
    seconds, _ = env.timed(lambda: build_sqlite(path, now=now))
    print(f"bench: built {path} ({RECORDS:,} audit records) in {seconds:.0f} s")
    with open(marker, "w") as handle:
        handle.write(now.isoformat())
    return now


# --- the measurement ----------------------------------------------------------------------------


def _queries(dataset: Dataset, *, now: datetime, rng: random.Random) -> list[dict]:
    """The filter mix (see the module's docstring)."""
    actors = [name for name, _ in dataset.actors]
    keys = [key_id for key_id, _, _ in dataset.keys]
    outcomes = ("succeeded", "failed", "pending")

    def day(back_days: float) -> str:
        return (now - timedelta(days=back_days)).date().isoformat()

    def date_range(days: int) -> dict:
        start = rng.uniform(days, SPAN_DAYS)
        return {"date_from": day(start), "date_to": day(start - days)}

    shapes = [
        lambda: {"actor": rng.choice(actors)},
        lambda: {"action": rng.choice(ALL_ACTIONS)},
        lambda: {"key": rng.choice(keys)},
        lambda: {"outcome": rng.choice(outcomes)},
        lambda: date_range(rng.choice((1, 7, 30))),
        lambda: {"actor": rng.choice(actors), "action": rng.choice(ALL_ACTIONS)},
        lambda: {"actor": rng.choice(actors), "outcome": "failed"},
        lambda: {"action": rng.choice(ALL_ACTIONS), "outcome": rng.choice(outcomes)},
        lambda: {"key": rng.choice(keys), "action": rng.choice(ALL_ACTIONS[:10])},
        lambda: {"actor": rng.choice(actors), **date_range(7)},
        lambda: {"action": rng.choice(ALL_ACTIONS), **date_range(30)},
        lambda: {},
    ]
    return [shapes[index % len(shapes)]() for index in range(QUERIES)]


def run() -> list[Result]:
    from django.db import connection

    vendor = connection.vendor
    if vendor == "sqlite":
        now = _sqlite_database(connection)
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        env.migrate()
        seconds, _ = env.timed(lambda: build_postgres(now=now))
        print(f"bench: {RECORDS:,} audit records loaded into PostgreSQL in {seconds:.0f} s")

    env.fresh_sandbox()
    client = env.admin_client()
    rng = random.Random(5)
    queries = _queries(Dataset(), now=now, rng=rng)
    for query in queries[:WARMUP]:
        env.get(client, "/audit/?" + urlencode(query))

    page_ms, fragment_ms, older_ms = [], [], []
    slowest: tuple[float, dict] = (0.0, {})
    for query in queries:
        url = "/audit/?" + urlencode(query)
        seconds, response = env.timed(lambda url=url: env.get(client, url))
        page_ms.append(seconds * 1000)
        slowest = max(slowest, (seconds * 1000, query), key=lambda pair: pair[0])
        seconds, _ = env.timed(lambda url=url: env.get(client, url, HTTP_HX_REQUEST="true"))
        fragment_ms.append(seconds * 1000)
        older = _OLDER_LINK.search(response.content.decode())
        if older and len(older_ms) < QUERIES // 4:
            # "Older →": the next page of the same filters, as the button asks for it.
            url = html.unescape(older.group(1))
            seconds, _ = env.timed(lambda url=url: env.get(client, url, HTTP_HX_REQUEST="true"))
            older_ms.append(seconds * 1000)
    every = page_ms + older_ms
    name = "SQLite" if vendor == "sqlite" else "PostgreSQL"
    return [
        Result(
            figure=f"/audit/ filtered page, {RECORDS:,} records ({name}): p95",
            value=percentile(every, 95),
            unit="ms",
            limit=TARGET_MS,
            compare=Compare.AT_MOST,
            note=(
                f"{name}: {len(page_ms)} full pages (filters: one, two, dates, none) and "
                f"{len(older_ms)} 'Older →' pages; median {median(every):.1f} ms; HTMX fragment "
                f"p95 {percentile(fragment_ms, 95):.1f} ms; slowest {slowest[0]:.0f} ms for "
                f"{urlencode(slowest[1]) or 'no filter'}"
            ),
        )
    ]
