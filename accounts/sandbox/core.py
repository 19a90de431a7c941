"""The simulated Venice account and `Sandbox.handle`, the pure core every way in shares.

`handle(method, path, query, headers, body)` answers one request to /api/v1 (path relative to
it) with a `SandboxResponse`; the requests adapter (adapter.py) and the HTTP server (server.py)
are thin shells around `exchange()`, which adds the scripted faults.

Where the spec is silent, the sandbox chooses, and says so here:
- an INFERENCE key on an ADMIN-only endpoint gets 401 (the spec lists only 401 for these
  endpoints, and Venice's own key docs say INFERENCE keys are "rejected from admin routes with
  401"); `/api_keys/rate_limits` and its log accept any valid key, as on Venice;
- an unknown key id gets 404 `{"error": "API key not found"}` (not in the spec);
- `x-ratelimit-reset-requests` is a Unix timestamp in seconds (Venice's rate-limit page);
- the per-minute request budget in the rate-limit headers is reported, not enforced; what is
  enforced is key creation (20 a minute, then 429) and Venice's failed-request rule (more than
  20 failed requests in 30 s block the account for 30 s with 429).

Secrets: like Venice, the sandbox recognises a key's secret without remembering it. A key record
keeps the secret's SHA-256 and last six characters; a Bearer token (or a `find_key` argument) is
hashed and looked up; POST /api_keys hands a new secret out once. Two secrets stay known, in
memory only: the demo ADMIN and INFERENCE keys (`admin_key`, `inference_key`), derived from the
seed. An ADMIN secret given with `venice_sandbox --admin-key` is the operator's own
VENICE_API_KEY, so it is not written to the state file either: the file keeps its hash (the
portal configured with it keeps working across restarts) and notes that it was given; a process
that loads such a file does not know the secret until `--admin-key` gives it again
(`replace_admin_secret`), and `admin_key` raises `AdminKeyUnknown` meanwhile. A state file from
before (version 1, with plain `secret` fields) is migrated on load: hashed, then rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from accounts.sandbox import seed as demo
from accounts.sandbox.billing import BillingRoutes
from accounts.sandbox.catalog import CURRENCIES, MODELS, MODELS_BY_ID, SKUS, sku_index
from accounts.sandbox.clock import SandboxClock, midnight_ms, to_ms
from accounts.sandbox.digest import secret_digest
from accounts.sandbox.faults import TIMEOUT_AFTER, TIMEOUT_BEFORE, Fault, Faults
from accounts.sandbox.inference import InferenceRoutes
from accounts.sandbox.keys import KeyRecord, KeyRoutes
from accounts.sandbox.ledger import ALL_KEYS, AMOUNT, CUR, DIEM, USD, Ledger, entry_json
from accounts.sandbox.responses import (
    ApiError,
    Exchange,
    Outcome,
    RecentList,
    RecordedRequest,
    SandboxResponse,
    copy_query,
    json_response,
    truncated,
)
from accounts.sandbox.rules import (
    ADMIN_REQUIRED,
    AUTH_FAILED,
    CREATIONS_PER_MINUTE,
    FAILED_REQUESTS_BLOCK_MS,
    FAILED_REQUESTS_BLOCKED,
    FAILED_REQUESTS_LIMIT,
    FAILED_REQUESTS_WINDOW_MS,
    INJECTED_ERRORS,
    REQUESTS_PER_MINUTE,
    USAGE_SUNSET_HEADERS,
)

API_PREFIX = "/api/v1"
STATE_VERSION = 2  # 2: keys keep secret_sha256 + last6; 1 (plain secrets) is migrated on load
MIGRATED_VERSIONS = (1,)
UNSUPPORTED_STATE = (
    "Unsupported sandbox state version {version!r} in {path}: run `make sandbox-reset` "
    "(manage.py venice_sandbox --reset) to start from the seeded demo account."
)
ADMIN_KEY_UNKNOWN = (
    "The sandbox's ADMIN key was set with `venice_sandbox --admin-key`, and only its hash is "
    "kept: give the same --admin-key again, or set VENICE_API_KEY to it (with VENICE_API_BASE "
    "pointing at `make sandbox`), or run `make sandbox-reset` for the seeded demo key."
)


class AdminKeyUnknown(LookupError):
    """The ADMIN key's secret was given with --admin-key in an earlier run: only its hash is
    kept, so this process cannot hand it out."""


class Sandbox(KeyRoutes, BillingRoutes, InferenceRoutes):
    """A stateful Venice account. Thread-safe: every state change happens under one lock."""

    def __init__(
        self,
        *,
        seed: int = 42,
        state_file: str | os.PathLike | None = "",
        clock: SandboxClock | None = None,
        admin_key: str | None = None,
        now: datetime | None = None,
    ):
        """A freshly seeded account. `now` freezes the clock there before seeding (tests);
        otherwise the clock is real time and the account is seeded as of this moment."""
        self._init_runtime(seed=seed, clock=clock or SandboxClock(now), state_file=state_file)
        self._reset_state()
        self._seed_account(admin_key=admin_key)

    def _init_runtime(self, *, seed: int, clock: SandboxClock, state_file) -> None:
        """What belongs to this process, not to the account: clock, faults, recordings."""
        self.seed = seed
        self.clock = clock
        self.faults = Faults(seed)
        self.received: list[RecordedRequest] = RecentList()
        self.exchanges: list[Exchange] = []  # only while record_exchanges is on (tests)
        self.record_exchanges = False
        self.block_failed_requests = True  # Venice's "> 20 failures in 30 s" rule
        self.state_file = str(state_file or "")
        self._lock = threading.RLock()
        self._sync_depth = 0
        self._lock_file = None
        self._disk_stamp = None

    # --- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.account_id = ""
        self._keys: dict[str, KeyRecord] = {}
        self._by_hash: dict[str, str] = {}  # secret_sha256 -> key id
        self._key_names: dict[str, str] = {}  # every key id ever seen -> last description
        self._cursor_secret = secrets.token_bytes(32)
        # Request ids follow from the seed (a seed always gives the same ledger); the cursor
        # key is random per sandbox, so another sandbox's cursors never pass.
        self.ledger = Ledger(salt=hashlib.sha256(f"venice-sandbox-{self.seed}".encode()).digest())
        self._seeded_ms = 0
        self._seeded_last_seq = 0
        self.usd_balance = 0.0
        self.diem_epoch_allocation = 0.0
        self._rate_limit_log: list[dict] = []
        self._creations: deque[int] = deque()
        self._requests: deque[int] = deque()
        self._failures: deque[int] = deque()
        self._blocked_until_ms = 0
        self._last_csv_stamp_ms = 0
        self._analytics_cache: dict = {}
        self._request_counter = 10_000_000
        self._admin_secret: str | None = ""  # None: given with --admin-key, not known here
        self._admin_key_given = False
        self.inference_key = ""

    @property
    def admin_key(self) -> str:
        """The ADMIN secret the portal calls the sandbox with (the seeded demo key's, or the
        one `--admin-key` gave this process). Raises AdminKeyUnknown when it was given in an
        earlier run: only its hash is kept."""
        if self._admin_secret is None:
            raise AdminKeyUnknown(ADMIN_KEY_UNKNOWN)
        return self._admin_secret

    @property
    def admin_key_known(self) -> bool:
        return self._admin_secret is not None

    @property
    def admin_key_given(self) -> bool:
        """Whether the ADMIN key's secret came from `--admin-key` (not the seed)."""
        return self._admin_key_given

    @property
    def admin_key_last6(self) -> str:
        """The ADMIN key's last six characters ("" once that key is deleted)."""
        record = self._keys.get(self._admin_key_id())
        return record.last6 if record is not None else ""

    def _admin_key_id(self) -> str:
        return demo.demo_template(self.seed).keys[demo.ADMIN_KEY_INDEX]["id"]

    def _seed_account(self, *, admin_key: str | None = None, seeded_ms: int | None = None):
        now_ms = self.clock.now_ms() if seeded_ms is None else seeded_ms
        template = demo.demo_template(self.seed)
        self._seeded_ms = now_ms
        self.account_id = f"sandbox-user-{self.seed}"
        for index, item in enumerate(template.keys):
            spec: demo.SeedKey = item["spec"]
            digest, last6 = item["secret_sha256"], item["last6"]
            if index == demo.ADMIN_KEY_INDEX and admin_key:
                digest, last6 = secret_digest(admin_key), admin_key[-6:]
            record = KeyRecord(
                id=item["id"],
                secret_sha256=digest,
                last6=last6,
                api_key_type=spec.api_key_type,
                description=spec.description,
                created_ms=now_ms + spec.created,
                expires_ms=None if spec.expires is None else now_ms + spec.expires,
                last_used_ms=None if spec.last_used is None else now_ms + spec.last_used,
                usd=spec.usd,
                diem=spec.diem,
                vcu=None,
                limit_period=spec.limit_period,
                model_privacy=spec.model_privacy,
            )
            self._add_key(record)
        self._admin_secret = admin_key or template.admin_key
        self._admin_key_given = bool(admin_key)
        self.inference_key = template.inference_key
        self.ledger.extend(
            (now_ms + row[0], *row[1:]) for row in template.ledger
        )  # already in order
        self._seeded_last_seq = self.ledger.last_seq
        self._rate_limit_log = [
            {**{k: v for k, v in item.items() if k != "offset"}, "ms": now_ms + item["offset"]}
            for item in template.rate_limit_log
        ]
        self.usd_balance = template.usd_balance
        self.diem_epoch_allocation = template.diem_epoch_allocation

    def _add_key(self, record: KeyRecord) -> None:
        self._keys[record.id] = record
        self._by_hash[record.secret_sha256] = record.id
        self._key_names[record.id] = record.description

    def _drop_key(self, record: KeyRecord) -> None:
        self._keys.pop(record.id, None)
        self._by_hash.pop(record.secret_sha256, None)

    def to_state(self) -> dict:
        """The account as JSON. The seeded ledger is not stored (it is regenerated from the
        seed and the seeding time); only entries added since are. No secret is stored: keys
        carry their hash, and the demo secrets follow from the seed."""
        with self._lock:
            return {
                "version": STATE_VERSION,
                "seed": self.seed,
                "seeded_ms": self._seeded_ms,
                "account_id": self.account_id,
                "cursor_secret": self._cursor_secret.hex(),
                "ledger_salt": self.ledger._salt.hex(),
                "keys": [record.to_state() for record in self._keys.values()],
                "key_names": self._key_names,
                "admin_key_given": self._admin_key_given,
                "ledger_added": self.ledger.dump_rows(after_seq=self._seeded_last_seq),
                "rate_limit_log": self._rate_limit_log,
                "usd_balance": self.usd_balance,
                "diem_epoch_allocation": self.diem_epoch_allocation,
                "creations": list(self._creations),
                "request_counter": self._request_counter,
            }

    @classmethod
    def from_state(
        cls, state: dict, *, state_file: str = "", clock: SandboxClock | None = None
    ) -> Sandbox:
        sandbox = cls.__new__(cls)
        sandbox._init_runtime(
            seed=int(state["seed"]), clock=clock or SandboxClock(), state_file=state_file
        )
        sandbox._apply_state(state)
        return sandbox

    def _apply_state(self, state: dict) -> None:
        version = state.get("version")
        if version != STATE_VERSION and version not in MIGRATED_VERSIONS:
            raise ValueError(
                UNSUPPORTED_STATE.format(version=version, path=self.state_file or "the state")
            )
        # An --admin-key secret this process was given survives reloading the shared file.
        known_admin = getattr(self, "_admin_secret", None)
        self.seed = int(state["seed"])
        self._reset_state()
        self.ledger = Ledger(salt=bytes.fromhex(state["ledger_salt"]))
        # Regenerate the seeded account (keys and ledger) as of the original seeding, then
        # replace the keys with the saved ones and add the usage recorded since.
        self._seed_account(seeded_ms=int(state["seeded_ms"]))
        self._keys.clear()
        self._by_hash.clear()
        for item in state["keys"]:
            self._add_key(KeyRecord.from_state(item))  # hashes a version-1 plain secret
        self._key_names.update(state.get("key_names", {}))
        self.account_id = state["account_id"]
        self._cursor_secret = bytes.fromhex(state["cursor_secret"])
        if version == 1:  # a plain admin_key other than the seeded one came from --admin-key
            given = state.get("admin_key", self._admin_secret) != self._admin_secret
        else:
            given = bool(state.get("admin_key_given"))
        if given:
            record = self._keys.get(self._admin_key_id())
            still_valid = known_admin and (
                record is None or record.secret_sha256 == secret_digest(known_admin)
            )
            self._admin_secret = known_admin if still_valid else None
            self._admin_key_given = True
        added = state.get("ledger_added") or []
        if added:
            self.ledger.load([*self.ledger.dump_rows(), *added])
        self._rate_limit_log = list(state["rate_limit_log"])
        self.usd_balance = float(state["usd_balance"])
        self.diem_epoch_allocation = float(state["diem_epoch_allocation"])
        self._creations = deque(state.get("creations", []))
        self._request_counter = int(state.get("request_counter", self._request_counter))

    @contextmanager
    def _synced(self):
        """Hold the account for one operation. With a state file, other processes may share
        it (runserver's restarts, several gunicorn workers, `venice_sandbox` next to
        `make run`): take the file lock, and reload the state first if another process
        changed it, so no one works on a stale account or overwrites another's change."""
        with self._lock:
            if not self.state_file:
                yield
                return
            self._sync_depth += 1
            try:
                if self._sync_depth == 1:
                    self._lock_state_file()
                    self._reload_if_changed()
                yield
            finally:
                self._sync_depth -= 1
                if self._sync_depth == 0:
                    self._unlock_state_file()

    def _lock_state_file(self) -> None:
        path = Path(self.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)

    def _unlock_state_file(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _file_stamp(self):
        try:
            found = os.stat(self.state_file)
        except FileNotFoundError:
            return None
        return found.st_mtime_ns, found.st_size, found.st_ino

    def _reload_if_changed(self) -> None:
        stamp = self._file_stamp()
        if stamp is None or stamp == self._disk_stamp:
            return
        with open(self.state_file, encoding="utf-8") as handle:
            state = json.load(handle)
        self._apply_state(state)
        self._disk_stamp = stamp
        if state.get("version") != STATE_VERSION:
            self.save()  # migrated: rewrite at once, so no plain secret stays on disk

    @classmethod
    def load(cls, path: str | os.PathLike, *, clock: SandboxClock | None = None) -> Sandbox:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        sandbox = cls.from_state(state, state_file=str(path), clock=clock)
        sandbox._disk_stamp = sandbox._file_stamp()
        if state.get("version") != STATE_VERSION:
            with sandbox._synced():  # migrated: rewrite at once, under the file lock
                sandbox.save()
        return sandbox

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write the state file atomically (a temporary file in the same directory, then
        rename), so a crash mid-write never leaves half a file."""
        target = Path(path or self.state_file)
        if not str(target):
            raise ValueError("this sandbox has no state file")
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            state = self.to_state()
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(state, handle, separators=(",", ":"))
            os.replace(temporary, target)
            if str(target) == self.state_file:
                self._disk_stamp = self._file_stamp()
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _changed(self) -> None:
        self._analytics_cache.clear()
        if self.state_file:
            self.save()

    # --- simulation helpers for tests and the demo ------------------------------------------
    def adapter(self):
        from accounts.sandbox.adapter import SandboxAdapter

        return SandboxAdapter(self)

    def find_key(self, secret_or_id: str) -> KeyRecord | None:
        """The key with this secret (hashed and looked up) or this id."""
        with self._synced():
            key_id = self._by_hash.get(secret_digest(secret_or_id), secret_or_id)
            return self._keys.get(key_id)

    def replace_admin_secret(self, secret: str) -> None:
        """Give the seeded ADMIN key this secret (`venice_sandbox --admin-key`). The state file
        keeps only its hash: a later run recognises it, and knows it again when given it again
        (giving the same secret again changes nothing else)."""
        with self._synced():
            record = self._keys.get(self._admin_key_id())
            if record is None:
                raise KeyError("the seeded ADMIN key was deleted; reset the sandbox")
            digest = secret_digest(secret)
            if self._by_hash.get(digest, record.id) != record.id:
                raise ValueError("another key already has that secret")
            self._admin_secret = secret
            if record.secret_sha256 == digest and self._admin_key_given:
                return
            self._by_hash.pop(record.secret_sha256, None)
            record.secret_sha256, record.last6 = digest, secret[-6:]
            self._by_hash[digest] = record.id
            self._admin_key_given = True
            self._changed()

    def key_ids(self, *, include_expired: bool = True) -> list[str]:
        now_ms = self.clock.now_ms()
        with self._synced():
            return [
                record.id
                for record in self._keys.values()
                if include_expired or not record.expired(now_ms)
            ]

    def use_key(
        self,
        secret_or_id: str,
        *,
        model: str = "zai-org-glm-5-1",
        usd: float | None = None,
        diem: float | None = None,
        tokens: int = 1000,
    ) -> list[dict]:
        """Simulate one request made with a key: it moves `lastUsedAt`, the key's usage and
        the account's balances, and appends ledger entries (returned as the API shows them).

        With `usd` and/or `diem`, one entry per currency charges exactly that amount; without,
        the request costs what `tokens` cost on `model`, in DIEM while today's allocation
        lasts and in USD after."""
        if model not in MODELS_BY_ID:
            raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS_BY_ID)}")
        with self._synced():
            record = self.find_key(secret_or_id)
            now_ms = self.clock.now_ms()
            if record is None:
                raise KeyError("no such key")
            if record.expired(now_ms):
                raise ValueError("that key has expired; Venice would refuse it")
            spec = MODELS_BY_ID[model]
            self._request_counter += 1
            request = self._request_counter
            prompt = completion = None
            if spec.model_type == "LLM":
                prompt = max(1, tokens * 3 // 4)
                completion = max(1, tokens - prompt)
            execution = 800 + tokens // 10
            entries = []
            if usd is not None or diem is not None:
                main = _main_sku(model)
                price = SKUS[main].price_usd
                for currency, amount in ((USD, usd), (DIEM, diem)):
                    if amount is None:
                        continue
                    if amount < 0:
                        raise ValueError("amounts are what was spent, so not negative")
                    entries.append(
                        self.ledger.add(
                            ts_ms=now_ms,
                            key_id=record.id,
                            sku=main,
                            currency=currency,
                            units=amount / price,
                            prompt=prompt,
                            completion=completion,
                            exec_ms=execution,
                            request=request,
                        )
                    )
            else:
                _spent_usd, spent_diem = self.ledger.sums(ALL_KEYS, midnight_ms(now_ms), now_ms + 1)
                currency = DIEM if spent_diem < self.diem_epoch_allocation else USD
                if spec.model_type == "LLM":
                    parts = [
                        (sku_index(model, "Input"), prompt),
                        (sku_index(model, "Output"), completion),
                    ]
                else:
                    parts = [(_main_sku(model), tokens)]
                for sku, count in parts:
                    units = count / 1e6 if spec.model_type in ("LLM", "TTS") else float(count)
                    entries.append(
                        self.ledger.add(
                            ts_ms=now_ms,
                            key_id=record.id,
                            sku=sku,
                            currency=currency,
                            units=units,
                            prompt=prompt,
                            completion=completion,
                            exec_ms=execution,
                            request=request,
                        )
                    )
            for entry in entries:
                if entry[CUR] != DIEM:
                    self.usd_balance = max(0.0, round(self.usd_balance + entry[AMOUNT], 8))
            record.last_used_ms = max(record.last_used_ms or 0, now_ms)
            self._changed()
            return [entry_json(entry, self.ledger) for entry in entries]

    def add_usage_entries(
        self,
        n: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        key: str | None = None,
        currency: str | None = None,
        model: str | None = None,
        seed: int | None = None,
    ) -> int:
        """Bulk-add `n` ledger entries spread over [start, end) (default: the last 90 days),
        for `key` (secret or id; default: the seeded keys and the web app in turn). Quick:
        200,000 entries take 1-2 s."""
        import random

        rng = random.Random(self.seed if seed is None else seed)
        now_ms = self.clock.now_ms()
        start_ms = to_ms(start) if start else now_ms - demo.HISTORY_DAYS * demo.DAY_MS
        end_ms = to_ms(end) if end else now_ms
        if end_ms <= start_ms:
            raise ValueError("end must be after start")
        with self._synced():
            if key is not None:
                record = self.find_key(key)
                if record is None:
                    raise KeyError("no such key")
                owners = [record.id]
            else:
                owners = [*self._keys, None]
            # Flat choices and random() instead of randrange(): this loop runs 200,000 times.
            models = [model] if model else [m.id for m in MODELS]
            choices = [
                (index, sku.kind in ("Input", "Output", "Cache Read"), sku.kind == "Output")
                for index, sku in enumerate(SKUS)
                if sku.model_id in models
            ]
            currencies = [CURRENCIES.index(currency)] if currency else [DIEM, DIEM, USD]
            span = end_ms - start_ms
            random = rng.random
            stamps = sorted([start_ms + int(random() * span) for _ in range(n)])
            request = self._request_counter
            rows = []
            append = rows.append
            last_used: dict[str, int] = {}
            n_owners, n_choices, n_currencies = len(owners), len(choices), len(currencies)
            for index, ts in enumerate(stamps):
                owner = owners[index % n_owners]
                sku, is_llm, is_output = choices[int(random() * n_choices)]
                request += 1
                if is_llm:
                    prompt = 200 + int(random() * 8000)
                    completion = 20 + int(random() * 1500)
                    units = (completion if is_output else prompt) / 1e6
                    execution = 500 + int(random() * 4000)
                    row = (ts, owner, sku, currencies[index % n_currencies], units,
                           prompt, completion, execution, request)  # fmt: skip
                else:
                    row = (ts, owner, sku, currencies[index % n_currencies], 1.0,
                           None, None, None, None)  # fmt: skip
                append(row)
                if owner is not None:
                    last_used[owner] = ts
            self._request_counter = request
            added = self.ledger.extend(rows)
            for owner, ts in last_used.items():
                record = self._keys.get(owner)
                if record is not None and ts <= now_ms:
                    record.last_used_ms = max(record.last_used_ms or 0, ts)
            self._changed()
            return added

    def ledger_entries(
        self,
        currency: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict]:
        """The entries a usage-history walk with these filters returns, in order."""
        with self._synced():
            found = self.ledger.walk(
                after=None,
                start_ms=to_ms(start) if start else None,
                end_ms=to_ms(end) if end else None,
                currency=CURRENCIES.index(currency) if currency else None,
                max_seq=self.ledger.last_seq,
            )
            return [entry_json(entry, self.ledger) for entry in found]

    def record_rate_limit_violation(
        self,
        secret_or_id: str,
        *,
        model: str = "zai-org-glm-5-1",
        kind: str = "RPM",
    ) -> dict:
        """Add an entry to /api_keys/rate_limits/log as if the key had hit a limit now."""
        with self._synced():
            record = self.find_key(secret_or_id)
            if record is None:
                raise KeyError("no such key")
            item = {
                "apiKeyId": record.id,
                "modelId": model,
                "rateLimitTier": "paid",
                "rateLimitType": kind,
                "ms": self.clock.now_ms(),
            }
            self._rate_limit_log.append(item)
            self._changed()
            return item

    # --- the transport-facing entry points ----------------------------------------------------
    def exchange(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Outcome:
        """`handle` with the scripted faults applied: what the adapter and server act on."""
        fault = self.faults.pick(method, path)
        if fault is None:
            return Outcome(self.handle(method, path, query, headers, body))
        delay = fault.latency
        if fault.drop:
            return Outcome(None, delay, "drop", fault)
        if fault.timeout == TIMEOUT_BEFORE:
            return Outcome(None, delay, "connect_timeout", fault)
        if fault.status is not None:
            response = self._injected_error(fault)
            self._record_request(method, path, query, headers, body)
            if fault.malformed:
                response = truncated(response)
            self._record_exchange(method, path, query, headers, body, response, "status")
            return Outcome(response, delay, None, fault)
        malformed = fault.malformed and fault.timeout != TIMEOUT_AFTER
        response = self._serve(method, path, query, headers, body, malformed=malformed)
        if fault.timeout == TIMEOUT_AFTER:
            return Outcome(None, delay, "read_timeout", fault)
        return Outcome(response, delay, None, fault)

    def _injected_error(self, fault: Fault) -> SandboxResponse:
        status = fault.status
        body = {"error": INJECTED_ERRORS.get(status, "Injected failure")}
        headers = self._rate_headers_general(self.clock.now_ms())
        if status == 429:
            reset_ms = self.clock.now_ms() + int((fault.reset_after or 60) * 1000)
            headers["x-ratelimit-remaining-requests"] = "0"
            headers["x-ratelimit-reset-requests"] = str(-(-reset_ms // 1000))
        if status == 410:
            headers.update(USAGE_SUNSET_HEADERS)
        return json_response(status, body, headers)

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> SandboxResponse:
        """Answer one request to /api/v1 (`path` relative to it, e.g. "/api_keys")."""
        return self._serve(method, path, query, headers, body)

    def _serve(self, method, path, query, headers, body, *, malformed=False) -> SandboxResponse:
        method = method.upper()
        headers = {name.lower(): value for name, value in headers.items()}
        query = query or {}
        with self._synced():
            self._record_request(method, path, query, headers, body)
            response = self._handle(method, path, query, headers, body or b"")
        if malformed:
            response = truncated(response)
        self._record_exchange(
            method, path, query, headers, body or b"", response, "malformed" if malformed else None
        )
        return response

    def _record_request(self, method, path, query, headers, body) -> None:
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        kept = {
            name.lower(): value
            for name, value in headers.items()
            if name.lower() not in ("authorization", "proxy-authorization")
        }
        with self._lock:
            self.received.append(
                RecordedRequest(method.upper(), path, copy_query(query), parsed, kept)
            )

    def _record_exchange(self, method, path, query, headers, body, response, injected) -> None:
        if not self.record_exchanges:
            return
        kept = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.exchanges.append(
                Exchange(method.upper(), path, copy_query(query), kept, body, response, injected)
            )

    # --- routing ----------------------------------------------------------------------------
    _ROUTES = {
        "/api_keys": {
            "GET": ("_list_keys", True),
            "POST": ("_create_key", True),
            "PATCH": ("_update_key", True),
            "DELETE": ("_delete_key", True),
        },
        "/api_keys/rate_limits": {"GET": ("_rate_limits", False)},
        "/api_keys/rate_limits/log": {"GET": ("_rate_limits_log", False)},
        "/billing/balance": {"GET": ("_balance", True)},
        "/billing/usage": {"GET": ("_usage_sunset", None)},
        "/billing/usage-analytics": {"GET": ("_usage_analytics", True)},
        "/billing/usage-history": {"GET": ("_usage_history", True)},
        # Simulated inference (accounts/sandbox/inference.py): any valid key, admin or not.
        "/chat/completions": {"POST": ("_chat_completions", False)},
        "/models": {"GET": ("_models", False)},
    }

    def _route(self, method: str, path: str):
        path = path.rstrip("/") or "/"
        params: dict[str, str] = {}
        methods = self._ROUTES.get(path)
        if methods is None and path.startswith("/api_keys/") and path.count("/") == 2:
            methods = {"GET": ("_get_key", True)}
            params["id"] = path.split("/")[2]
        if methods is None:
            raise ApiError(404, f"No route for {path}")
        if method not in methods:
            raise ApiError(
                405,
                f"Method {method} is not allowed on {path}",
                headers={"Allow": ", ".join(sorted(methods))},
            )
        name, admin_only = methods[method]
        return getattr(self, name), admin_only, params

    def _handle(self, method, path, query, headers, body) -> SandboxResponse:
        now_ms = self.clock.now_ms()
        self._note_request(now_ms)
        record: KeyRecord | None = None
        try:
            handler, admin_only, params = self._route(method, path)
            if admin_only is not None:
                record = self._authenticate(headers, now_ms, admin_only=admin_only)
            result = handler(
                record=record,
                query=query,
                headers=headers,
                body=body,
                now_ms=now_ms,
                method=method,
                **params,
            )
            if isinstance(result, SandboxResponse):
                response = result
            else:
                status, payload, extra = result
                response = json_response(status, payload, extra)
        except ApiError as error:
            payload = {"error": error.message}
            if error.details is not None:
                payload["details"] = error.details
            response = json_response(error.status, payload, error.headers)
            if record is None and error.status == 401 and path.rstrip("/") != "/billing/usage":
                # A refusal for a known key (an INFERENCE key on an admin route) still counts.
                record = self._known_key(headers)
        if record is not None and response.status >= 400:
            self._note_failure(now_ms, response.status)
        for name, value in self._rate_headers(method, path, now_ms).items():
            response.headers.setdefault(name, value)
        return response

    def _known_key(self, headers) -> KeyRecord | None:
        secret = _bearer(headers)
        key_id = self._by_hash.get(secret_digest(secret)) if secret else None
        return self._keys.get(key_id) if key_id else None

    def _authenticate(self, headers, now_ms: int, *, admin_only: bool) -> KeyRecord:
        record = self._known_key(headers)
        if record is None or record.expired(now_ms):
            raise ApiError(401, AUTH_FAILED)
        if self.block_failed_requests and now_ms < self._blocked_until_ms:
            raise ApiError(
                429,
                FAILED_REQUESTS_BLOCKED,
                headers={
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": str(-(-self._blocked_until_ms // 1000)),
                },
            )
        if admin_only and record.api_key_type != "ADMIN":
            raise ApiError(401, ADMIN_REQUIRED)
        return record

    def _note_request(self, now_ms: int) -> None:
        self._requests.append(now_ms)
        while self._requests and self._requests[0] <= now_ms - 60_000:
            self._requests.popleft()

    def _note_failure(self, now_ms: int, status: int) -> None:
        if not self.block_failed_requests or now_ms < self._blocked_until_ms:
            return
        self._failures.append(now_ms)
        while self._failures and self._failures[0] <= now_ms - FAILED_REQUESTS_WINDOW_MS:
            self._failures.popleft()
        if len(self._failures) > FAILED_REQUESTS_LIMIT:
            self._blocked_until_ms = now_ms + FAILED_REQUESTS_BLOCK_MS
            self._failures.clear()

    def _rate_headers(self, method: str, path: str, now_ms: int) -> dict[str, str]:
        if method == "POST" and path.rstrip("/") == "/api_keys":
            self._prune_creations(now_ms)
            used = len(self._creations)
            reset_ms = (self._creations[0] + 60_000) if self._creations else now_ms + 60_000
            return {
                "x-ratelimit-limit-requests": str(CREATIONS_PER_MINUTE),
                "x-ratelimit-remaining-requests": str(max(0, CREATIONS_PER_MINUTE - used)),
                "x-ratelimit-reset-requests": str(-(-reset_ms // 1000)),
            }
        return self._rate_headers_general(now_ms)

    def _rate_headers_general(self, now_ms: int) -> dict[str, str]:
        with self._lock:
            used = len(self._requests)
            reset_ms = (self._requests[0] + 60_000) if self._requests else now_ms + 60_000
        return {
            "x-ratelimit-limit-requests": str(REQUESTS_PER_MINUTE),
            "x-ratelimit-remaining-requests": str(max(0, REQUESTS_PER_MINUTE - used)),
            "x-ratelimit-reset-requests": str(-(-reset_ms // 1000)),
        }

    def _prune_creations(self, now_ms: int) -> None:
        while self._creations and self._creations[0] <= now_ms - 60_000:
            self._creations.popleft()


# --- helpers ---------------------------------------------------------------------------------
def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _main_sku(model_id: str) -> int:
    model = MODELS_BY_ID[model_id]
    kind = {"LLM": "Output", "IMAGE": "Image", "TTS": "Characters", "ASR": "Seconds"}[
        model.model_type
    ]
    return sku_index(model_id, kind)


__all__ = [
    "ADMIN_KEY_UNKNOWN",
    "API_PREFIX",
    "AdminKeyUnknown",
    "ApiError",
    "Exchange",
    "KeyRecord",
    "Outcome",
    "RecordedRequest",
    "Sandbox",
    "SandboxResponse",
]
