"""Figure 5: a filtered /audit/ page over 1,000,000 audit records, p95.

The records are inserted with raw SQL (the ORM refuses bulk_create on AuditEvent by design, and
sealing a million records one by one would take hours); their hash chain is not valid, which the
page does not read. They are shaped like a real log of three years (see Dataset): each key
created once, updated through its life and rotated (in its steps) or deleted, most changes by a
few busy people and automations, finance and auditors exporting, a few percent failed, a
handful pending, and more activity lately.

The measured mix is what people filter by: one actor, action, key, outcome or date range, pairs
of them and a triple (some matching nothing, which makes the database prove it), several actions
at once ("deleted or rotated"), a key found by its description or its last 6 characters, the
unfiltered page and the "Older →" page after a filtered one. Each request is the full page
(with the drift panel) as a link or a browser without JavaScript gets it; the HTMX fragment
the filter form swaps in is timed alongside and printed.

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

from bench import audit_verify, audit_worst, env
from bench.harness import Compare, Result, median, percentile

RECORDS = 1_000_000
DATASET_VERSION = 3  # bump when the generator below changes
SPAN_DAYS = 3 * 365
TARGET_MS = 50.0
WARMUP = 20
QUERIES = 280
SLOTS = 1200  # services with a key over the years (a few hundred at a time)
KEY_LIFETIME = 45 * 86_400  # mean seconds a key lives before it is rotated or deleted
ROTATED = 0.85  # the share of retired keys rotated (the rest are deleted, ending their slot)
EXPORT_SHARE = 0.07
ROTATION_NEW = "key.rotation.replacement_created"

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

UPSTREAM_FAILED = "UpstreamUnavailableError: Venice failed to answer (503)."
ALL_ACTIONS = [
    "key.updated",
    "key.created",
    "key.deleted",
    "key.rotation.started",
    ROTATION_NEW,
    "key.rotation.old_key_scheduled",
    "key.rotation.old_key_deleted",
    "key.rotation.completed",
    "key.rotation.failed",
    "key.rotation.aborted",
    "audit.exported",
    "billing.usage_exported",
]
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "manage.py reconcile_audit",
)


class Dataset:
    """The people, and the keys' lives, the records are drawn from (seeded: the same every run).

    Keys live in "slots" (a service's key): a slot starts at some point of the three years
    (more of them lately), its first key is created, and each key lives about six weeks
    before it is rotated (its replacement is the slot's next key) or deleted (the slot ends).
    So every key id is created once and retired at most once, a few hundred are alive at the
    end, and the log names some ten thousand keys."""

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
        # Zipf-like: the first few of each kind write most of its records.
        self.key_actors = [a for a in self.actors if a[1] in ("Administrator", "Key manager")]
        self.key_actor_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(self.key_actors))]
        self.export_actors = [a for a in self.actors if a[1] in ("Finance", "Auditor")]
        self.export_actors += self.key_actors[:4]
        self.export_actor_weights = [1 / (rank + 1) for rank in range(len(self.export_actors))]
        span = SPAN_DAYS * 86_400
        teams = ("search", "billing", "support", "mobile", "data", "ops", "web", "ml", "qa")
        # (id, description, last6, born, died, how it ended, hotness); times are seconds
        # before now, `died` None while alive, ended "rotated" or "deleted".
        self.keys: list[tuple] = []
        for slot in range(SLOTS):
            born = span * rng.random() ** 1.6
            description = f"{teams[slot % len(teams)]} service {slot:04d}"
            hotness = 1 / (rng.randrange(SLOTS) + 5)
            while True:
                life = rng.expovariate(1 / KEY_LIFETIME)
                died = born - life if born - life > 0 else None
                ended = None if died is None else "rotated" if rng.random() < ROTATED else "deleted"
                key_id = _key_id(rng)
                last6 = hashlib.sha256(key_id.encode()).hexdigest()[:6]
                self.keys.append((key_id, description, last6, born, died, ended, hotness))
                if ended != "rotated":
                    break
                born = died
        self.ips = [f"203.0.113.{n}" for n in range(1, 40)]
        self.ips += [f"198.51.100.{n}" for n in range(1, 20)]
        self.rng = rng


def _key_id(rng: random.Random) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _lifecycle(data: Dataset) -> list[tuple[float, str, int]]:
    """(seconds before now, action, key index) of every key's creation and retirement."""
    events = []
    rng = data.rng
    previous_ended = None
    for index, (_, _, _, born, died, ended, _) in enumerate(data.keys):
        # A key born when the slot's previous key was rotated is that rotation's replacement.
        replacement = previous_ended == "rotated" and abs(data.keys[index - 1][4] - born) < 1e-6
        events.append((born, ROTATION_NEW if replacement else "key.created", index))
        previous_ended = ended
        if ended == "deleted":
            events.append((died, "key.deleted", index))
        elif ended == "rotated":
            if rng.random() < 0.05:  # an attempt that failed or was abandoned the day before
                ending = "key.rotation.failed" if rng.random() < 0.7 else "key.rotation.aborted"
                events.append((died + 86_400, "key.rotation.started", index))
                events.append((died + 86_300, ending, index))
            events.append((died + 40, "key.rotation.started", index))
            if rng.random() < 0.2:  # a grace period: expiry set now, deleted a week later
                events.append((died - 1, "key.rotation.old_key_scheduled", index))
                if died - 7 * 86_400 > 0:
                    events.append((died - 7 * 86_400, "key.rotation.old_key_deleted", index))
            else:
                events.append((died - 1, "key.rotation.old_key_deleted", index))
            events.append((died - 2, "key.rotation.completed", index))
        elif rng.random() < 0.02:  # a rotation of a live key that failed or was abandoned
            when = born * rng.random()
            events.append((when + 1, "key.rotation.started", index))
            events.append(
                (when, rng.choice(("key.rotation.failed", "key.rotation.aborted")), index)
            )
    return events


def generate(count: int = RECORDS, *, now: datetime, seed: int = 1) -> Iterator[tuple]:
    """`count` records in time order, as tuples in COLUMNS order (Python values): the keys'
    lives, updates spread over them (busier keys and longer lives get more), and exports.
    Random choices are drawn for all records at once: a million take seconds."""
    data = Dataset(seed)
    rng = data.rng
    events = _lifecycle(data)
    exports = int(count * EXPORT_SHARE)
    updates = count - exports - len(events)
    if updates < 0:
        raise ValueError("too few records for the keys' lives")
    # Updates: keys weighted by hotness times how long they lived, at a time within that life.
    weights = [hot * (born - (died or 0.0)) for _, _, _, born, died, _, hot in data.keys]
    for index in rng.choices(range(len(data.keys)), weights=weights, k=updates):
        _, _, _, born, died, _, _ = data.keys[index]
        events.append((born - (born - (died or 0.0)) * rng.random(), "key.updated", index))
    span = SPAN_DAYS * 86_400
    for _ in range(exports):
        kind = "billing.usage_exported" if rng.random() < 0.67 else "audit.exported"
        events.append((span * rng.random() ** 1.6, kind, -1))
    events.sort(key=lambda event: -event[0])  # oldest first, as ids are given

    key_actors = rng.choices(data.key_actors, weights=data.key_actor_weights, k=count)
    export_actors = rng.choices(data.export_actors, weights=data.export_actor_weights, k=count)
    rolls = [rng.random() for _ in range(count)]
    fields = ("description", "usd", "expires_at", "limit_period")
    start = now.timestamp()
    sequence = 0
    for index, (offset, action, key) in enumerate(events):
        moment = datetime.fromtimestamp(start - offset - rng.random(), UTC)
        key_id = description = last6 = ""
        changes: dict = {}
        details: dict = {}
        roll = rolls[index]
        if key >= 0:
            username, role = key_actors[index]
            key_id, description, last6 = data.keys[key][:3]
            if action == "key.updated":
                changes = {fields[index % 4]: ["before", "after"]}
            elif action in ("key.created", ROTATION_NEW):
                details = {"api_key_type": "ADMIN" if roll > 0.95 else "INFERENCE"}
                if roll < 0.002:
                    details["secret_lost"] = True
        else:
            username, role = export_actors[index]
            if action == "billing.usage_exported" and role == "Auditor":
                action = "audit.exported"
            elif action == "audit.exported" and role == "Finance":
                action = "billing.usage_exported"
            details = {"filters": {}, "rows": index % 100_000}
        if roll < 0.965:
            outcome, error = "succeeded", ""
        elif roll < 0.999:
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
    up to date row by row. No ANALYZE: Django never runs one, so the planner works from what
    the migrations left, as in a deployment."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-400000")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' "
            "AND tbl_name='accounts_auditevent' AND sql IS NOT NULL"
        ).fetchall()
        # Dropping an index drops its planner statistics (migration 0007) too: keep them.
        statistics = connection.execute(
            "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl='accounts_auditevent'"
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
        connection.execute("DELETE FROM sqlite_stat1 WHERE tbl='accounts_auditevent'")
        connection.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", statistics)
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
    keys = [key[0] for key in dataset.keys]
    descriptions = sorted({key[1] for key in dataset.keys})
    last6s = [key[2] for key in dataset.keys]
    retiring = ["key.deleted", "key.rotation.completed", "key.rotation.started"]
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
        lambda: {"key": rng.choice(keys), "outcome": rng.choice(outcomes)},
        lambda: {
            "actor": rng.choice(actors),
            "action": rng.choice(ALL_ACTIONS),
            "outcome": rng.choice(outcomes),
        },
        lambda: {"actor": rng.choice(actors), **date_range(7)},
        lambda: {"action": rng.choice(ALL_ACTIONS), **date_range(30)},
        lambda: {},
        # Several actions at once, alone and with an actor.
        lambda: {"action": rng.sample(retiring, 2)},
        lambda: {"action": rng.sample(ALL_ACTIONS, 3)},
        lambda: {"actor": rng.choice(actors), "action": rng.sample(retiring, 2)},
        # A key by what people remember: its description (whole or in part), its last 6.
        lambda: {"key": rng.choice(descriptions)},
        lambda: {"key": rng.choice(descriptions).split(" ", 1)[1]},
        lambda: {"key": rng.choice(last6s)},
        lambda: {"key": rng.choice(descriptions), "action": rng.sample(retiring, 2)},
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
        env.get(client, "/audit/?" + urlencode(query, doseq=True))

    page_ms, fragment_ms, older_ms = [], [], []
    slowest: tuple[float, dict] = (0.0, {})
    for query in queries:
        url = "/audit/?" + urlencode(query, doseq=True)
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
    worst = audit_worst.run(client, now=now, name=name)
    verify = audit_verify.run(name=name)
    return [
        worst,
        *verify,
        Result(
            figure=f"/audit/ filtered page, {RECORDS:,} records ({name}): p95",
            value=percentile(every, 95),
            unit="ms",
            limit=TARGET_MS,
            compare=Compare.AT_MOST,
            note=(
                f"{name}: {len(page_ms)} full pages (filters: one, two, three, dates, several "
                f"actions, a key by name or last 6, none) and "
                f"{len(older_ms)} 'Older →' pages; median {median(every):.1f} ms; HTMX fragment "
                f"p95 {percentile(fragment_ms, 95):.1f} ms; slowest {slowest[0]:.0f} ms for "
                f"{urlencode(slowest[1], doseq=True) or 'no filter'}"
            ),
        ),
    ]
