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
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import re
import secrets
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from accounts.sandbox import seed as demo
from accounts.sandbox.catalog import CURRENCIES, MODELS, MODELS_BY_ID, SKUS, sku_index
from accounts.sandbox.clock import SandboxClock, from_ms, iso_ms, to_ms
from accounts.sandbox.cursor import CursorError, read_cursor, sign_cursor
from accounts.sandbox.faults import TIMEOUT_AFTER, TIMEOUT_BEFORE, Fault, Faults
from accounts.sandbox.ledger import (
    ALL_KEYS,
    AMOUNT,
    CSV_COLUMNS,
    CUR,
    DIEM,
    KEY,
    SEQ,
    SKU,
    TS,
    UNITS,
    USD,
    Ledger,
    entry_csv_row,
    entry_json,
)

API_PREFIX = "/api/v1"
STATE_VERSION = 1

MAX_ACTIVE_KEYS = 500
CREATIONS_PER_MINUTE = 20
REQUESTS_PER_MINUTE = 500  # reported in the rate-limit headers
FAILED_REQUESTS_LIMIT = 20
FAILED_REQUESTS_WINDOW_MS = 30_000
FAILED_REQUESTS_BLOCK_MS = 30_000
LIMIT_MAX = 9_999_999_999
DESCRIPTION_MAX = 64
ANALYTICS_MAX_DAYS = 90
PAGE_SIZE_MIN, PAGE_SIZE_MAX = 10, 1000
CURSOR_TTL_MS = 24 * 3_600_000
TOP_N = 8

KEY_TYPES = ("INFERENCE", "ADMIN")
LIMIT_PERIODS = ("EPOCH", "MONTH", "LIFETIME")
MODEL_PRIVACIES = ("ALL", "PRIVATE_TEXT", "PRIVATE_ONLY")

# Error texts (tests reuse them).
AUTH_FAILED = "Authentication failed"
ADMIN_REQUIRED = (
    "Authentication failed: this endpoint requires an ADMIN API key; "
    "INFERENCE keys may only call inference endpoints and /api_keys/rate_limits."
)
INVALID_PARAMETERS = "Invalid request parameters"
KEY_NOT_FOUND = "API key not found"
TOO_MANY_KEYS = (
    f"You have reached the maximum of {MAX_ACTIVE_KEYS} active API keys. "
    "Delete unused keys before creating new ones."
)
CREATION_RATE_LIMITED = (
    f"Rate limit exceeded: API key creation is limited to {CREATIONS_PER_MINUTE} requests "
    "per minute. Try again after x-ratelimit-reset-requests."
)
FAILED_REQUESTS_BLOCKED = (
    "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s "
    "and try again. See https://docs.venice.ai/api-reference/rate-limiting for more information."
)
INVALID_CURSOR = (
    "Invalid cursor: it is expired, was tampered with, or was issued to another user. "
    "Restart the walk from the first page."
)
CURSOR_WITH_FILTERS = (
    "A cursor carries the filters of the walk it continues; send the cursor and nothing else."
)
USAGE_SUNSET = (
    "GET /api/v1/billing/usage was sunset on 2026-09-16. Use GET /api/v1/billing/usage-history "
    "instead: replace page and limit with pageSize and the nextCursor of each response, and "
    "startDate and endDate with startTimestamp and endTimestamp."
)
USAGE_SUNSET_HEADERS = {
    "Deprecation": "@1783555200",
    "Sunset": "Wed, 16 Sep 2026 00:00:00 GMT",
    "Link": '</api/v1/billing/usage-history>; rel="successor-version"',
}
INJECTED_ERRORS = {
    400: INVALID_PARAMETERS,
    401: AUTH_FAILED,
    403: "Unauthorized access",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "An unknown error occurred",
    502: "Bad gateway",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "The request took too long to complete and was timed-out.",
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
_TIMESTAMP_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_LOOKBACK = re.compile(r"^[1-9]\d*d$")


@dataclass(frozen=True)
class SandboxResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class RecordedRequest:
    """What the sandbox received (the Authorization header removed)."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Exchange:
    """One request and the answer the sandbox gave, kept for the conformance check."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    response: SandboxResponse
    injected: str | None = None  # "status" or "malformed" when a fault made the answer


@dataclass
class Outcome:
    """What a transport should do: wait `delay` seconds, then answer `response` or fail with
    `error` ("connect_timeout", "read_timeout" or "drop")."""

    response: SandboxResponse | None
    delay: float = 0.0
    error: str | None = None
    fault: Fault | None = None


@dataclass
class KeyRecord:
    id: str
    secret: str
    api_key_type: str
    description: str
    created_ms: int
    expires_ms: int | None
    last_used_ms: int | None
    usd: float | None
    diem: float | None
    vcu: float | None
    limit_period: str
    model_privacy: str

    @property
    def has_limits(self) -> bool:
        return self.usd is not None or self.diem is not None or self.vcu is not None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and self.expires_ms <= now_ms

    def to_state(self) -> dict:
        return dict(self.__dict__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


class _Validation:
    """Collects zod-style errors: {"_errors": [...], "field": {"_errors": [...]}}."""

    def __init__(self):
        self.details: dict = {"_errors": []}
        self.failed = False

    def form(self, message: str) -> None:
        self.details["_errors"].append(message)
        self.failed = True

    def field(self, *path: str, message: str) -> None:
        node = self.details
        for name in path:
            node = node.setdefault(name, {"_errors": []})
        node["_errors"].append(message)
        self.failed = True

    def raise_if_failed(self) -> None:
        if self.failed:
            raise ApiError(400, INVALID_PARAMETERS, details=self.details)


def _received_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _money(value: float) -> str:
    return f"{value:.4f}"


def _num(value: float) -> float:
    return round(value, 6)


def _midnight(ms: int) -> int:
    return ms - ms % demo.DAY_MS


def _month_start(ms: int) -> int:
    when = from_ms(ms)
    return to_ms(datetime(when.year, when.month, 1, tzinfo=UTC))


class Sandbox:
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
        self.seed = seed
        self.clock = clock or SandboxClock(now)
        self.faults = Faults(seed)
        self.received: list[RecordedRequest] = []
        self.exchanges: list[Exchange] = []
        self.record_exchanges = False
        self.block_failed_requests = True  # Venice's "> 20 failures in 30 s" rule
        self.state_file = str(state_file or "")
        self._lock = threading.RLock()
        self._reset_state()
        self._seed_account(admin_key=admin_key)

    # --- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.account_id = ""
        self._keys: dict[str, KeyRecord] = {}
        self._by_secret: dict[str, str] = {}
        self._key_names: dict[str, str] = {}  # every key id ever seen -> last description
        self._cursor_secret = secrets.token_bytes(32)
        self.ledger = Ledger(salt=secrets.token_bytes(16))
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
        self.admin_key = ""
        self.inference_key = ""

    def _seed_account(self, *, admin_key: str | None = None, seeded_ms: int | None = None):
        now_ms = self.clock.now_ms() if seeded_ms is None else seeded_ms
        template = demo.demo_template(self.seed)
        self._seeded_ms = now_ms
        self.account_id = f"sandbox-user-{self.seed}"
        for index, item in enumerate(template.keys):
            spec: demo.SeedKey = item["spec"]
            secret = item["secret"]
            if index == demo.ADMIN_KEY_INDEX and admin_key:
                secret = admin_key
            record = KeyRecord(
                id=item["id"],
                secret=secret,
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
        self.admin_key = self._keys[template.keys[demo.ADMIN_KEY_INDEX]["id"]].secret
        self.inference_key = template.keys[demo.INFERENCE_KEY_INDEX]["secret"]
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
        self._by_secret[record.secret] = record.id
        self._key_names[record.id] = record.description

    def _drop_key(self, record: KeyRecord) -> None:
        self._keys.pop(record.id, None)
        self._by_secret.pop(record.secret, None)

    def to_state(self) -> dict:
        """The account as JSON. The seeded ledger is not stored (it is regenerated from the
        seed and the seeding time); only entries added since are."""
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
                "admin_key_id": self._by_secret.get(self.admin_key),
                "inference_key_id": self._by_secret.get(self.inference_key),
                "admin_key": self.admin_key,
                "inference_key": self.inference_key,
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
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported sandbox state version {state.get('version')!r}")
        sandbox = cls.__new__(cls)
        sandbox.seed = int(state["seed"])
        sandbox.clock = clock or SandboxClock()
        sandbox.faults = Faults(sandbox.seed)
        sandbox.received = []
        sandbox.exchanges = []
        sandbox.record_exchanges = False
        sandbox.block_failed_requests = True
        sandbox.state_file = state_file
        sandbox._lock = threading.RLock()
        sandbox._reset_state()
        sandbox.ledger = Ledger(salt=bytes.fromhex(state["ledger_salt"]))
        # Regenerate the seeded account (keys and ledger) as of the original seeding, then
        # replace the keys with the saved ones and add the usage recorded since.
        sandbox._seed_account(seeded_ms=int(state["seeded_ms"]))
        sandbox._keys.clear()
        sandbox._by_secret.clear()
        for item in state["keys"]:
            sandbox._add_key(KeyRecord(**item))
        sandbox._key_names.update(state.get("key_names", {}))
        sandbox.account_id = state["account_id"]
        sandbox._cursor_secret = bytes.fromhex(state["cursor_secret"])
        sandbox.admin_key = state["admin_key"]
        sandbox.inference_key = state["inference_key"]
        added = state.get("ledger_added") or []
        if added:
            sandbox.ledger.load([*sandbox.ledger.dump_rows(), *added])
        sandbox._rate_limit_log = list(state["rate_limit_log"])
        sandbox.usd_balance = float(state["usd_balance"])
        sandbox.diem_epoch_allocation = float(state["diem_epoch_allocation"])
        sandbox._creations = deque(state.get("creations", []))
        sandbox._request_counter = int(state.get("request_counter", sandbox._request_counter))
        return sandbox

    @classmethod
    def load(cls, path: str | os.PathLike, *, clock: SandboxClock | None = None) -> Sandbox:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        return cls.from_state(state, state_file=str(path), clock=clock)

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
        with self._lock:
            key_id = self._by_secret.get(secret_or_id, secret_or_id)
            return self._keys.get(key_id)

    def replace_admin_secret(self, secret: str) -> None:
        """Give the seeded ADMIN key this secret (`venice_sandbox --admin-key`)."""
        with self._lock:
            record = self.find_key(self.admin_key)
            if record is None:
                raise KeyError("the seeded ADMIN key was deleted; reset the sandbox")
            if secret in self._by_secret and self._by_secret[secret] != record.id:
                raise ValueError("another key already has that secret")
            self._by_secret.pop(record.secret, None)
            record.secret = secret
            self._by_secret[secret] = record.id
            self.admin_key = secret
            self._changed()

    def key_ids(self, *, include_expired: bool = True) -> list[str]:
        now_ms = self.clock.now_ms()
        with self._lock:
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
        with self._lock:
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
                _spent_usd, spent_diem = self.ledger.sums(ALL_KEYS, _midnight(now_ms), now_ms + 1)
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
        200,000 entries take about a second."""
        import random

        rng = random.Random(self.seed if seed is None else seed)
        now_ms = self.clock.now_ms()
        start_ms = to_ms(start) if start else now_ms - demo.HISTORY_DAYS * demo.DAY_MS
        end_ms = to_ms(end) if end else now_ms
        if end_ms <= start_ms:
            raise ValueError("end must be after start")
        with self._lock:
            if key is not None:
                record = self.find_key(key)
                if record is None:
                    raise KeyError("no such key")
                owners = [record.id]
            else:
                owners = [*self._keys, None]
            models = [model] if model else [m.id for m in MODELS]
            sku_choices = {m: [i for i, s in enumerate(SKUS) if s.model_id == m] for m in models}
            currencies = [CURRENCIES.index(currency)] if currency else [DIEM, DIEM, USD]
            stamps = sorted(rng.randrange(start_ms, end_ms) for _ in range(n))
            randrange = rng.randrange
            request = self._request_counter
            rows = []
            last_used: dict[str, int] = {}
            for index, ts in enumerate(stamps):
                owner = owners[index % len(owners)]
                chosen = models[randrange(len(models))]
                skus = sku_choices[chosen]
                sku = skus[randrange(len(skus))]
                request += 1
                if SKUS[sku].kind in ("Input", "Output", "Cache Read"):
                    prompt = 200 + randrange(8000)
                    completion = 20 + randrange(1500)
                    units = (prompt if SKUS[sku].kind != "Output" else completion) / 1e6
                    rows.append(
                        (
                            ts,
                            owner,
                            sku,
                            currencies[index % len(currencies)],
                            units,
                            prompt,
                            completion,
                            500 + randrange(4000),
                            request,
                        )
                    )
                else:
                    rows.append(
                        (
                            ts,
                            owner,
                            sku,
                            currencies[index % len(currencies)],
                            1.0,
                            None,
                            None,
                            None,
                            None,
                        )
                    )
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
        with self._lock:
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
        with self._lock:
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
                response = _malformed(response)
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
        return _json_response(status, body, headers)

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
        with self._lock:
            self._record_request(method, path, query, headers, body)
            response = self._handle(method, path, query, headers, body or b"")
        if malformed:
            response = _malformed(response)
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
                RecordedRequest(method.upper(), path, _copy_query(query), parsed, kept)
            )

    def _record_exchange(self, method, path, query, headers, body, response, injected) -> None:
        if not self.record_exchanges:
            return
        kept = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.exchanges.append(
                Exchange(method.upper(), path, _copy_query(query), kept, body, response, injected)
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
                response = _json_response(status, payload, extra)
        except ApiError as error:
            payload = {"error": error.message}
            if error.details is not None:
                payload["details"] = error.details
            response = _json_response(error.status, payload, error.headers)
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
        key_id = self._by_secret.get(secret) if secret else None
        return self._keys.get(key_id) if key_id else None

    def _authenticate(self, headers, now_ms: int, *, admin_only: bool) -> KeyRecord:
        secret = _bearer(headers)
        key_id = self._by_secret.get(secret) if secret else None
        record = self._keys.get(key_id) if key_id else None
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

    # --- /api_keys ----------------------------------------------------------------------------
    def _key_json(self, record: KeyRecord, now_ms: int, *, usage: bool = True) -> dict:
        limits = {"usd": record.usd, "diem": record.diem}
        if record.vcu is not None:
            limits["vcu"] = record.vcu
        data = {
            "apiKeyType": record.api_key_type,
            "consumptionLimits": limits,
            "limitPeriod": record.limit_period,
            "modelPrivacy": record.model_privacy,
            "createdAt": iso_ms(record.created_ms),
            "description": record.description,
            "expiresAt": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "id": record.id,
            "last6Chars": record.secret[-6:],
            "lastUsedAt": None if record.last_used_ms is None else iso_ms(record.last_used_ms),
        }
        if usage:
            week_usd, week_diem = self.ledger.sums(record.id, now_ms - 7 * demo.DAY_MS, now_ms + 1)
            data["usage"] = {
                "trailingSevenDays": {
                    "usd": _money(week_usd),
                    "vcu": _money(0.0),
                    "diem": _money(week_diem),
                }
            }
            if record.has_limits:
                period_usd, period_diem = self.ledger.sums(
                    record.id, self._period_start(record, now_ms), now_ms + 1
                )
                data["currentPeriodUsage"] = {
                    "usd": _money(period_usd),
                    "diem": _money(period_diem),
                }
        return data

    @staticmethod
    def _period_start(record: KeyRecord, now_ms: int) -> int:
        if record.limit_period == "EPOCH":
            return _midnight(now_ms)
        if record.limit_period == "MONTH":
            return _month_start(now_ms)
        return 0

    def _list_keys(self, *, now_ms, **_):
        active = [record for record in self._keys.values() if not record.expired(now_ms)]
        active.sort(key=lambda record: record.created_ms, reverse=True)
        return 200, {"data": [self._key_json(r, now_ms) for r in active], "object": "list"}, {}

    def _get_key(self, *, id, now_ms, **_):  # noqa: A002 - the path parameter's name
        record = self._keys.get(id)
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        return 200, {"data": self._key_json(record, now_ms)}, {}

    def _create_key(self, *, body, now_ms, **_):
        self._prune_creations(now_ms)
        if len(self._creations) >= CREATIONS_PER_MINUTE:
            reset_ms = self._creations[0] + 60_000
            raise ApiError(
                429,
                CREATION_RATE_LIMITED,
                headers={
                    "x-ratelimit-limit-requests": str(CREATIONS_PER_MINUTE),
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": str(-(-reset_ms // 1000)),
                },
            )
        self._creations.append(now_ms)
        payload = _json_object(body)
        check = _Validation()
        _unknown_keys(
            check,
            payload,
            {
                "apiKeyType",
                "consumptionLimit",
                "limitPeriod",
                "modelPrivacy",
                "description",
                "expiresAt",
            },
        )
        if "apiKeyType" not in payload:
            check.field("apiKeyType", message="Required")
        else:
            _enum(check, payload, "apiKeyType", KEY_TYPES)
        if "description" not in payload:
            check.field("description", message="Required")
        else:
            _description(check, payload)
        limits = _limits(check, payload)
        _enum(check, payload, "limitPeriod", LIMIT_PERIODS)
        _enum(check, payload, "modelPrivacy", MODEL_PRIVACIES)
        expires_ms = _expires(check, payload, now_ms, allow_null=False)
        check.raise_if_failed()
        active = sum(1 for record in self._keys.values() if not record.expired(now_ms))
        if active >= MAX_ACTIVE_KEYS:
            raise ApiError(400, TOO_MANY_KEYS)
        api_key_type = payload["apiKeyType"]
        secret = f"VENICE-{api_key_type}-KEY-{secrets.token_urlsafe(32)[:42]}"
        record = KeyRecord(
            id=_new_id(),
            secret=secret,
            api_key_type=api_key_type,
            description=payload["description"],
            created_ms=now_ms,
            expires_ms=None if expires_ms is ... else expires_ms,
            last_used_ms=None,
            usd=limits.get("usd"),
            diem=limits.get("diem"),
            vcu=limits.get("vcu"),
            limit_period=payload.get("limitPeriod", "EPOCH"),
            model_privacy=payload.get("modelPrivacy", "ALL"),
        )
        self._add_key(record)
        self._changed()
        limits_json = {"usd": record.usd, "diem": record.diem}
        if record.vcu is not None:
            limits_json["vcu"] = record.vcu
        data = {
            "apiKey": record.secret,
            "apiKeyType": record.api_key_type,
            "consumptionLimit": limits_json,
            "limitPeriod": record.limit_period,
            "modelPrivacy": record.model_privacy,
            "description": record.description,
            "expiresAt": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "id": record.id,
        }
        return 200, {"data": data, "success": True}, {}

    def _update_key(self, *, body, now_ms, **_):
        payload = _json_object(body)
        check = _Validation()
        _unknown_keys(
            check,
            payload,
            {"id", "consumptionLimit", "limitPeriod", "modelPrivacy", "description", "expiresAt"},
        )
        if "id" not in payload:
            check.field("id", message="Required")
        elif not isinstance(payload["id"], str):
            check.field("id", message=f"Expected string, received {_received_type(payload['id'])}")
        if "description" in payload:
            _description(check, payload)
        limits = _limits(check, payload)
        _enum(check, payload, "limitPeriod", LIMIT_PERIODS)
        _enum(check, payload, "modelPrivacy", MODEL_PRIVACIES)
        expires_ms = _expires(check, payload, now_ms, allow_null=True)
        check.raise_if_failed()
        record = self._keys.get(payload["id"])
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        if "description" in payload:
            record.description = payload["description"]
            self._key_names[record.id] = record.description
        for name, value in limits.items():
            setattr(record, name, value)
        if "limitPeriod" in payload:
            record.limit_period = payload["limitPeriod"]
        if "modelPrivacy" in payload:
            record.model_privacy = payload["modelPrivacy"]
        if expires_ms is not ...:
            record.expires_ms = expires_ms
        self._changed()
        return 200, {"data": self._key_json(record, now_ms, usage=False), "success": True}, {}

    def _delete_key(self, *, query, now_ms, **_):
        key_id = (query.get("id") or [""])[0]
        if not key_id:
            raise ApiError(
                400,
                INVALID_PARAMETERS,
                details={
                    "_errors": [],
                    "id": {"_errors": ["Required"]},
                },
            )
        record = self._keys.get(key_id)
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        self._drop_key(record)
        self._changed()
        return 200, {"success": True}, {}

    # --- rate limits ----------------------------------------------------------------------------
    def _balances(self, now_ms: int) -> tuple[float, float]:
        _usd, diem_today = self.ledger.sums(ALL_KEYS, _midnight(now_ms), now_ms + 1)
        diem = max(0.0, self.diem_epoch_allocation - diem_today)
        return round(self.usd_balance, 2), round(diem, 4)

    def _rate_limits(self, *, record, now_ms, **_):
        usd, diem = self._balances(now_ms)
        models = []
        for model in MODELS:
            limits = [{"amount": model.rpm, "type": "RPM"}, {"amount": model.rpd, "type": "RPD"}]
            if model.tpm is not None:
                limits.append({"amount": model.tpm, "type": "TPM"})
            models.append({"apiModelId": model.id, "rateLimits": limits})
        data = {
            "accessPermitted": usd > 0 or diem > 0,
            "apiTier": {"id": "paid", "isCharged": True},
            "balances": {"USD": usd, "DIEM": diem},
            "keyExpiration": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "nextEpochBegins": iso_ms(_midnight(now_ms) + demo.DAY_MS),
            "rateLimits": models,
        }
        return 200, {"data": data}, {}

    def _rate_limits_log(self, **_):
        latest = sorted(self._rate_limit_log, key=lambda item: item["ms"], reverse=True)[:50]
        data = [
            {
                "apiKeyId": item["apiKeyId"],
                "modelId": item["modelId"],
                "rateLimitTier": item["rateLimitTier"],
                "rateLimitType": item["rateLimitType"],
                "timestamp": iso_ms(item["ms"]),
            }
            for item in latest
        ]
        return 200, {"data": data, "object": "list"}, {}

    # --- billing ------------------------------------------------------------------------------
    def _balance(self, *, now_ms, **_):
        usd, diem = self._balances(now_ms)
        currency = "DIEM" if diem > 0 else ("USD" if usd > 0 else None)
        payload = {
            "canConsume": usd > 0 or diem > 0,
            "consumptionCurrency": currency,
            "balances": {"diem": diem, "usd": usd},
            "diemEpochAllocation": self.diem_epoch_allocation,
        }
        return 200, payload, {}

    def _usage_sunset(self, **_):
        raise ApiError(410, USAGE_SUNSET, headers=dict(USAGE_SUNSET_HEADERS))

    def _usage_analytics(self, *, query, now_ms, **_):
        check = _Validation()
        lookback = _single(query, "lookback")
        start_date = _single(query, "startDate")
        end_date = _single(query, "endDate")
        if start_date is not None or end_date is not None:
            start_day = _parse_day(check, "startDate", start_date)
            end_day = _parse_day(check, "endDate", end_date)
            check.raise_if_failed()
            if end_day < start_day:
                check.field("endDate", message="endDate must not be before startDate")
                check.raise_if_failed()
            start_ms = to_ms(datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC))
            end_ms = (
                to_ms(datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)) + demo.DAY_MS
            )
            label = f"{start_date}:{end_date}"
        else:
            label = lookback or "7d"
            if not _LOOKBACK.match(label):
                check.field("lookback", message='Invalid lookback: use a number of days like "7d"')
                check.raise_if_failed()
            days = int(label[:-1])
            if days > ANALYTICS_MAX_DAYS:
                check.field("lookback", message=f"Lookback must be at most {ANALYTICS_MAX_DAYS}d")
                check.raise_if_failed()
            end_ms = _midnight(now_ms) + demo.DAY_MS
            start_ms = end_ms - days * demo.DAY_MS
        cache_key = (
            self.ledger.version,
            tuple(sorted(self._key_names.items())),
            start_ms,
            end_ms,
            label,
        )
        cached = self._analytics_cache.get(cache_key)
        if cached is None:
            cached = self._analytics(start_ms, min(end_ms, now_ms + 1), end_ms, label)
            self._analytics_cache = {cache_key: cached}
        return 200, cached, {}

    def _analytics(self, start_ms: int, until_ms: int, end_ms: int, label: str) -> dict:
        days = list(range(start_ms, end_ms, demo.DAY_MS))
        by_date = {day: [0.0, 0.0] for day in days}
        models: dict[str, dict] = {}
        keys: dict[str | None, list[float]] = {}
        model_daily: dict[str, dict[int, float]] = {}
        key_daily: dict[str | None, dict[int, float]] = {}
        for entry in self.ledger.between(start_ms, until_ms):
            day = entry[TS] - (entry[TS] - start_ms) % demo.DAY_MS
            spent = -entry[AMOUNT]
            is_diem = entry[CUR] == DIEM
            usd, diem = (0.0, spent) if is_diem else (spent, 0.0)
            totals = by_date.get(day)
            if totals is not None:
                totals[0] += usd
                totals[1] += diem
            sku = SKUS[entry[SKU]]
            model = models.get(sku.model_id)
            if model is None:
                model = models[sku.model_id] = {"usd": 0.0, "diem": 0.0, "units": 0.0, "kinds": {}}
            model["usd"] += usd
            model["diem"] += diem
            model["units"] += entry[UNITS]
            kind = model["kinds"].setdefault(sku.kind, [0.0, 0.0, 0.0])
            kind[0] += usd
            kind[1] += diem
            kind[2] += entry[UNITS]
            daily = model_daily.setdefault(sku.model_id, {})
            daily[day] = daily.get(day, 0.0) + spent
            key_totals = keys.setdefault(entry[KEY], [0.0, 0.0, 0.0])
            key_totals[0] += usd
            key_totals[1] += diem
            key_totals[2] += entry[UNITS]
            daily = key_daily.setdefault(entry[KEY], {})
            daily[day] = daily.get(day, 0.0) + spent
        by_model = []
        for model_id, totals in sorted(
            models.items(), key=lambda item: item[1]["usd"] + item[1]["diem"], reverse=True
        ):
            model = MODELS_BY_ID[model_id]
            row = {
                "modelName": model.name,
                "unitType": model.unit_type,
                "modelType": model.model_type,
                "totalUsd": _num(totals["usd"]),
                "totalDiem": _num(totals["diem"]),
                "totalUnits": _num(totals["units"]),
            }
            if len(totals["kinds"]) > 1:
                row["breakdown"] = [
                    {"type": kind, "usd": _num(v[0]), "diem": _num(v[1]), "units": _num(v[2])}
                    for kind, v in sorted(
                        totals["kinds"].items(),
                        key=lambda item: item[1][0] + item[1][1],
                        reverse=True,
                    )
                ]
            by_model.append(row)
        top_models = [row["modelName"] for row in by_model[:TOP_N]]
        top_model_ids = [
            mid
            for mid, _ in sorted(
                models.items(), key=lambda item: item[1]["usd"] + item[1]["diem"], reverse=True
            )
        ][:TOP_N]

        def key_name(key_id):
            return "Web App" if key_id is None else self._key_names.get(key_id, "Deleted key")

        ranked_keys = sorted(keys.items(), key=lambda item: item[1][0] + item[1][1], reverse=True)
        by_key = [
            {
                "apiKeyId": key_id,
                "description": key_name(key_id),
                "totalUsd": _num(totals[0]),
                "totalDiem": _num(totals[1]),
                "totalUnits": _num(totals[2]),
            }
            for key_id, totals in ranked_keys
        ]
        top_keys = [key_id for key_id, _ in ranked_keys[:TOP_N]]
        by_model_daily = []
        by_key_daily = []
        for day in days:
            point = {"date": day}
            for model_id in top_model_ids:
                point[MODELS_BY_ID[model_id].name] = _num(model_daily[model_id].get(day, 0.0))
            by_model_daily.append(point)
            point = {"date": day}
            for key_id in top_keys:
                name = key_name(key_id)
                point[name] = _num(point.get(name, 0.0) + key_daily[key_id].get(day, 0.0))
            by_key_daily.append(point)
        return {
            "lookback": label,
            "byDate": [
                {"date": from_ms(day).date().isoformat(), "USD": _num(v[0]), "DIEM": _num(v[1])}
                for day, v in sorted(by_date.items(), reverse=True)
            ],
            "byModel": by_model,
            "byModelDaily": by_model_daily,
            "topModels": top_models,
            "byKey": by_key,
            "byKeyDaily": by_key_daily,
            "topKeyNames": [key_name(key_id) for key_id in top_keys],
        }

    def _usage_history(self, *, query, headers, now_ms, **_):
        check = _Validation()
        cursor = _single(query, "cursor")
        filters = [
            name
            for name in ("currency", "startTimestamp", "endTimestamp", "pageSize")
            if name in query
        ]
        if cursor is not None:
            if filters:
                for name in filters:
                    check.field(name, message="Not allowed alongside a cursor")
                raise ApiError(400, CURSOR_WITH_FILTERS, details=check.details)
            walk = self._read_walk(cursor, now_ms)
        else:
            walk = self._new_walk(check, query, now_ms)
        found = self.ledger.walk(
            after=walk["after"],
            start_ms=walk["s"],
            end_ms=walk["e"],
            currency=walk["c"],
            max_seq=walk["m"],
            limit=walk["p"] + 1,
        )
        page, more = found[: walk["p"]], len(found) > walk["p"]
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = sign_cursor(
                self._cursor_secret,
                {
                    "a": self.account_id,
                    "c": walk["c"],
                    "e": walk["e"],
                    "p": walk["p"],
                    "m": walk["m"],
                    "t": last[TS],
                    "q": last[SEQ],
                    "i": now_ms,
                },
            )
        if "text/csv" in headers.get("accept", ""):
            return self._csv_page(page, next_cursor, now_ms)
        data = [entry_json(entry, self.ledger) for entry in page]
        return 200, {"data": data, "nextCursor": next_cursor}, {}

    def _new_walk(self, check: _Validation, query, now_ms: int) -> dict:
        currency = _single(query, "currency")
        if currency is not None and currency not in CURRENCIES:
            check.field("currency", message=_enum_message(CURRENCIES, currency))
        size_text = _single(query, "pageSize")
        size = PAGE_SIZE_MAX
        if size_text is not None:
            if not re.fullmatch(r"\d{1,7}", size_text):
                check.field("pageSize", message="Expected integer, received string")
            else:
                size = int(size_text)
                if size < PAGE_SIZE_MIN:
                    check.field(
                        "pageSize",
                        message=f"Number must be greater than or equal to {PAGE_SIZE_MIN}",
                    )
                elif size > PAGE_SIZE_MAX:
                    check.field(
                        "pageSize", message=f"Number must be less than or equal to {PAGE_SIZE_MAX}"
                    )
        start_ms = _timestamp(check, "startTimestamp", _single(query, "startTimestamp"))
        end_ms = _timestamp(check, "endTimestamp", _single(query, "endTimestamp"))
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            check.field("endTimestamp", message="endTimestamp must be later than startTimestamp")
        check.raise_if_failed()
        return {
            "after": None,
            "s": start_ms,
            "e": end_ms,
            "c": None if currency is None else CURRENCIES.index(currency),
            "p": size,
            "m": self.ledger.last_seq,
        }

    def _read_walk(self, token: str, now_ms: int) -> dict:
        try:
            payload = read_cursor(self._cursor_secret, token)
            if payload.get("a") != self.account_id:
                raise CursorError("cursor belongs to another user")
            if now_ms - int(payload["i"]) > CURSOR_TTL_MS:
                raise CursorError("cursor expired")
            return {
                "after": (int(payload["t"]), int(payload["q"])),
                "s": None,
                "e": None if payload["e"] is None else int(payload["e"]),
                "c": None if payload["c"] is None else int(payload["c"]),
                "p": int(payload["p"]),
                "m": int(payload["m"]),
            }
        except (CursorError, KeyError, TypeError, ValueError):
            raise ApiError(
                400,
                INVALID_CURSOR,
                details={
                    "_errors": [],
                    "cursor": {"_errors": ["Invalid cursor"]},
                },
            ) from None

    def _csv_page(self, page: list[tuple], next_cursor: str | None, now_ms: int):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in page:
            writer.writerow(entry_csv_row(entry, self.ledger))
        # Each page's filename is stamped with the export time to the millisecond; pages
        # served within the same millisecond get consecutive stamps so names stay unique and
        # sort in walk order.
        stamp_ms = max(now_ms, self._last_csv_stamp_ms + 1)
        self._last_csv_stamp_ms = stamp_ms
        stamp = from_ms(stamp_ms).strftime("%Y%m%dT%H%M%S") + f"{stamp_ms % 1000:03d}Z"
        headers = {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename=billing-usage-history-{stamp}.csv",
        }
        if next_cursor:
            headers["x-next-cursor"] = next_cursor
        return SandboxResponse(200, headers, out.getvalue().encode())


# --- helpers ---------------------------------------------------------------------------------
def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _main_sku(model_id: str) -> int:
    model = MODELS_BY_ID[model_id]
    kind = {"LLM": "Output", "IMAGE": "Image", "TTS": "Characters", "ASR": "Seconds"}[
        model.model_type
    ]
    return sku_index(model_id, kind)


def _copy_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: list(values) for name, values in (query or {}).items()}


def _json_response(status: int, payload, headers: Mapping[str, str] | None = None):
    merged = {"Content-Type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return SandboxResponse(status, merged, json.dumps(payload, separators=(",", ":")).encode())


def _malformed(response: SandboxResponse) -> SandboxResponse:
    """The same answer cut off half way, as when a proxy truncates the body."""
    body = response.body[: max(1, len(response.body) // 2)]
    if body == response.body or not body.strip():
        body = b'{"data": ['
    headers = dict(response.headers)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return SandboxResponse(response.status, headers, body)


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    return values[-1]


def _json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise ApiError(
            400,
            INVALID_PARAMETERS,
            details={
                "_errors": ["The request body is not valid JSON"],
            },
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(
            400,
            INVALID_PARAMETERS,
            details={
                "_errors": [f"Expected object, received {_received_type(payload)}"],
            },
        )
    return payload


def _unknown_keys(check: _Validation, payload: dict, allowed: set[str]) -> None:
    unknown = [name for name in payload if name not in allowed]
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        check.form(f"Unrecognized key(s) in object: {names}")


def _enum_message(options, value) -> str:
    expected = " | ".join(f"'{option}'" for option in options)
    return f"Invalid enum value. Expected {expected}, received '{value}'"


def _enum(check: _Validation, payload: dict, name: str, options) -> None:
    if name not in payload:
        return
    value = payload[name]
    if not isinstance(value, str):
        expected = " | ".join(f"'{option}'" for option in options)
        check.field(name, message=f"Expected {expected}, received {_received_type(value)}")
    elif value not in options:
        check.field(name, message=_enum_message(options, value))


def _description(check: _Validation, payload: dict) -> None:
    value = payload["description"]
    if not isinstance(value, str):
        check.field("description", message=f"Expected string, received {_received_type(value)}")
    elif not value.strip():
        check.field("description", message="String must contain at least 1 character(s)")
    elif len(value) > DESCRIPTION_MAX:
        check.field(
            "description", message=f"String must contain at most {DESCRIPTION_MAX} character(s)"
        )


def _limits(check: _Validation, payload: dict) -> dict:
    if "consumptionLimit" not in payload:
        return {}
    value = payload["consumptionLimit"]
    if not isinstance(value, dict):
        check.field(
            "consumptionLimit", message=f"Expected object, received {_received_type(value)}"
        )
        return {}
    found = {}
    for name in ("usd", "diem", "vcu"):
        if name not in value:
            continue
        amount = value[name]
        if amount is None:
            found[name] = None
        elif isinstance(amount, bool) or not isinstance(amount, int | float):
            check.field(
                "consumptionLimit",
                name,
                message=f"Expected number, received {_received_type(amount)}",
            )
        elif amount != amount or amount < 0:  # NaN or negative
            check.field(
                "consumptionLimit", name, message="Number must be greater than or equal to 0"
            )
        elif amount > LIMIT_MAX:
            check.field(
                "consumptionLimit",
                name,
                message=f"Number must be less than or equal to {LIMIT_MAX}",
            )
        else:
            found[name] = amount
    return found


def _expires(check: _Validation, payload: dict, now_ms: int, *, allow_null: bool):
    """The expiry in ms, None to clear it, or ... when the field was not sent."""
    if "expiresAt" not in payload:
        return ...
    value = payload["expiresAt"]
    if value is None:
        if allow_null:
            return None
        check.field("expiresAt", message="Expected string, received null")
        return ...
    if not isinstance(value, str):
        check.field("expiresAt", message=f"Expected string, received {_received_type(value)}")
        return ...
    if value == "":
        return None
    try:
        if _DATE.match(value):
            when = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        elif _DATETIME_Z.match(value):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise ValueError
    except ValueError:
        check.field(
            "expiresAt", message="Invalid date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS(.sss)Z"
        )
        return ...
    expires_ms = to_ms(when)
    if expires_ms <= now_ms:
        check.field("expiresAt", message="Expiration date must be in the future")
        return ...
    return expires_ms


def _timestamp(check: _Validation, name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if len(value) > 40 or not _TIMESTAMP_Z.match(value):
        check.field(name, message='Invalid datetime: use ISO 8601 in UTC with a "Z" suffix')
        return None
    try:
        return to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        check.field(name, message="Invalid datetime")
        return None


def _parse_day(check: _Validation, name: str, value: str | None) -> date | None:
    if value is None:
        check.field(
            name,
            message=f"Required when {'endDate' if name == 'startDate' else 'startDate'} is given",
        )
        return None
    if not _DATE.match(value):
        check.field(name, message="Invalid date: use YYYY-MM-DD")
        return None
    try:
        year, month, day = (int(part) for part in value.split("-"))
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError
        return date(year, month, day)
    except ValueError:
        check.field(name, message="Invalid date")
        return None


__all__ = [
    "ApiError",
    "Exchange",
    "KeyRecord",
    "Outcome",
    "RecordedRequest",
    "Sandbox",
    "SandboxResponse",
]
