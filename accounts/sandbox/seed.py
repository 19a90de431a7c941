"""The seeded demo account: keys, 90 days of usage, rate-limit violations and balances.

Everything comes from the seed number, with times relative to the clock at seeding, so the same
seed always gives the same account "as of now". The ledger is generated once per seed as offsets
from now (a few tens of thousands of rows) and shifted onto the clock on each seeding, which
keeps a fresh sandbox per test cheap.
"""

from __future__ import annotations

import functools
import math
import random
import string
import uuid
from dataclasses import dataclass

from accounts.sandbox.catalog import MODELS, MODELS_BY_ID, SKUS, sku_index
from accounts.sandbox.digest import secret_digest
from accounts.sandbox.ledger import BUNDLED, DIEM, USD

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
HISTORY_DAYS = 90
DIEM_EPOCH_ALLOCATION = 10.0
SECRET_ALPHABET = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class SeedKey:
    """A seeded key; times are milliseconds before (negative) or after now."""

    description: str
    api_key_type: str
    created: int
    last_used: int | None
    expires: int | None
    usd: float | None
    diem: float | None
    limit_period: str
    model_privacy: str
    daily_requests: float  # average requests a day while in use
    prompt_tokens: int  # typical prompt size
    models: tuple[str, ...]
    inactive_since: int | None = None  # no usage after this offset


# About a dozen keys of both types: varied limits, periods, privacy and expiry; some expiring
# within 14 days (one within hours), some unused for 60+ days, some without limits.
DEMO_KEYS: tuple[SeedKey, ...] = (
    SeedKey(
        "Portal admin",
        "ADMIN",
        -400 * DAY_MS,
        -2 * MINUTE_MS,
        None,
        None,
        None,
        "EPOCH",
        "ALL",
        0,
        0,
        (),
    ),
    SeedKey(
        "Production backend",
        "INFERENCE",
        -365 * DAY_MS,
        -4 * MINUTE_MS,
        None,
        500,
        None,
        "MONTH",
        "ALL",
        70,
        6_000,
        ("zai-org-glm-5-1", "kimi-k2-6", "qwen3-235b-a22b-instruct-2507"),
    ),
    SeedKey(
        "Staging",
        "INFERENCE",
        -300 * DAY_MS,
        -3 * HOUR_MS,
        None,
        None,
        25,
        "EPOCH",
        "PRIVATE_TEXT",
        18,
        3_000,
        ("zai-org-glm-5-1", "venice-uncensored", "qwen3-4b"),
    ),
    SeedKey(
        "Data pipeline (nightly)",
        "INFERENCE",
        -200 * DAY_MS,
        -9 * HOUR_MS,
        9 * DAY_MS,
        100,
        50,
        "MONTH",
        "PRIVATE_ONLY",
        22,
        40_000,
        ("deepseek-v3.2", "llama-3.3-70b", "zai-org-glm-5-1"),
    ),
    SeedKey(
        "Contractor - Acme Analytics",
        "INFERENCE",
        -45 * DAY_MS,
        -26 * HOUR_MS,
        3 * DAY_MS,
        20,
        None,
        "LIFETIME",
        "PRIVATE_TEXT",
        6,
        4_000,
        ("mistral-31-24b", "kimi-k2-6"),
    ),
    SeedKey(
        "Mobile app",
        "INFERENCE",
        -250 * DAY_MS,
        -11 * MINUTE_MS,
        None,
        None,
        None,
        "EPOCH",
        "PRIVATE_ONLY",
        30,
        1_500,
        ("venice-uncensored", "grok-imagine-image", "tts-kokoro"),
    ),
    SeedKey(
        "Old prototype",
        "INFERENCE",
        -330 * DAY_MS,
        -75 * DAY_MS,
        None,
        10,
        None,
        "MONTH",
        "ALL",
        5,
        2_000,
        ("llama-3.3-70b",),
        inactive_since=-75 * DAY_MS,
    ),
    SeedKey(
        "Hackathon 2025", "INFERENCE", -140 * DAY_MS, None, None, 5, 5, "LIFETIME", "ALL", 0, 0, ()
    ),
    SeedKey(
        "Support bot",
        "INFERENCE",
        -160 * DAY_MS,
        -37 * MINUTE_MS,
        None,
        None,
        10,
        "EPOCH",
        "PRIVATE_TEXT",
        25,
        2_500,
        ("qwen3-4b", "mistral-31-24b", "nvidia-parakeet-tdt-0.6b-v3"),
    ),
    SeedKey(
        "Temporary demo key",
        "INFERENCE",
        -2 * DAY_MS,
        -5 * HOUR_MS,
        90 * MINUTE_MS,
        2,
        None,
        "EPOCH",
        "ALL",
        4,
        1_000,
        ("grok-imagine-image", "venice-sd35"),
    ),
    SeedKey(
        "Billing automation",
        "ADMIN",
        -90 * DAY_MS,
        -6 * HOUR_MS,
        30 * DAY_MS,
        None,
        None,
        "EPOCH",
        "ALL",
        0,
        0,
        (),
    ),
    SeedKey(
        "Research notebook",
        "INFERENCE",
        -210 * DAY_MS,
        -64 * DAY_MS,
        12 * DAY_MS,
        50,
        None,
        "LIFETIME",
        "PRIVATE_ONLY",
        8,
        12_000,
        ("kimi-k2-6", "deepseek-v3.2"),
        inactive_since=-64 * DAY_MS,
    ),
    SeedKey(
        "CI smoke tests",
        "INFERENCE",
        -120 * DAY_MS,
        -52 * MINUTE_MS,
        None,
        None,
        1,
        "EPOCH",
        "ALL",
        12,
        800,
        ("qwen3-4b",),
    ),
)
ADMIN_KEY_INDEX = 0  # "Portal admin": the key the portal itself uses
INFERENCE_KEY_INDEX = 1  # "Production backend": the inference key printed for demos


@dataclass(frozen=True)
class DemoTemplate:
    """The seeded account with times as offsets from "now"."""

    keys: tuple[dict, ...]  # id, secret_sha256, last6 and the SeedKey ("spec")
    admin_key: str  # the two demo secrets the portal and `venice_sandbox` hand out; the
    inference_key: str  # other seeded keys' secrets are dropped once hashed
    ledger: tuple[tuple, ...]  # rows for Ledger.extend with ts as an offset (negative)
    rate_limit_log: tuple[dict, ...]  # with "offset" instead of a timestamp
    usd_balance: float
    diem_epoch_allocation: float


def make_secret(rng: random.Random, api_key_type: str) -> str:
    body = "".join(rng.choice(SECRET_ALPHABET) for _ in range(42))
    return f"VENICE-{api_key_type}-KEY-{body}"


def make_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@functools.lru_cache(maxsize=8)
def demo_template(seed: int) -> DemoTemplate:
    rng = random.Random(seed)
    keys = []
    demo_secrets = []
    for spec in DEMO_KEYS:
        key_id = make_id(rng)
        secret = make_secret(rng, spec.api_key_type)  # drawn in order: the rng feeds the rest
        demo_secrets.append(secret)
        keys.append(
            {
                "spec": spec,
                "id": key_id,
                "secret_sha256": secret_digest(secret),
                "last6": secret[-6:],
            }
        )
    ledger = _demo_ledger(rng, keys)
    log = _demo_rate_limit_log(rng, keys)
    usd_balance = round(rng.uniform(120, 260), 2)
    return DemoTemplate(
        keys=tuple(keys),
        admin_key=demo_secrets[ADMIN_KEY_INDEX],
        inference_key=demo_secrets[INFERENCE_KEY_INDEX],
        ledger=tuple(ledger),
        rate_limit_log=tuple(log),
        usd_balance=usd_balance,
        diem_epoch_allocation=DIEM_EPOCH_ALLOCATION,
    )


def _demo_ledger(rng: random.Random, keys: list[dict]) -> list[tuple]:
    """90 days of requests per key (plus the web app), charged in DIEM until the day's
    allocation is spent, then in USD; a few early days drew on bundled credits."""
    rows: list[tuple] = []
    request = 0
    web_app = SeedKey(
        "Web App",
        "INFERENCE",
        -400 * DAY_MS,
        None,
        None,
        None,
        None,
        "EPOCH",
        "ALL",
        14,
        2_000,
        ("zai-org-glm-5-1", "grok-imagine-image", "venice-uncensored"),
    )
    users = [(key["id"], key["spec"]) for key in keys if key["spec"].daily_requests]
    users.append((None, web_app))
    # Day 0 is today (partial: only up to now); day 89 is 89 days ago.
    for day in range(HISTORY_DAYS - 1, -1, -1):
        day_start = -day * DAY_MS  # offset of this moment N days ago; the day ends at +DAY_MS
        weekday_factor = 0.55 if day % 7 in (1, 2) else 1.0
        growth = 0.7 + 0.3 * (HISTORY_DAYS - day) / HISTORY_DAYS
        requests_today: list[tuple[int, str | None, SeedKey]] = []
        for key_id, spec in users:
            if spec.created > day_start - DAY_MS:
                continue
            if spec.inactive_since is not None and day_start > spec.inactive_since:
                continue
            mean = spec.daily_requests * weekday_factor * growth * 0.5
            count = max(0, int(rng.gauss(mean, math.sqrt(mean) + 1)))
            if day == 0:  # today so far: back from now, so never in the future
                count = count // 3
            for _ in range(count):
                offset = day_start - rng.randrange(DAY_MS if day else DAY_MS // 3)
                if spec.inactive_since is not None and offset > spec.inactive_since:
                    continue
                requests_today.append((offset, key_id, spec))
        requests_today.sort(key=lambda item: item[0])
        diem_spent = 0.0
        for offset, key_id, spec in requests_today:
            model = MODELS_BY_ID[rng.choice(spec.models)]
            request += 1
            if day > 80 and rng.random() < 0.3:
                currency = BUNDLED
            elif diem_spent < DIEM_EPOCH_ALLOCATION:
                currency = DIEM
            else:
                currency = USD
            for row in _request_rows(
                rng, offset, key_id, model, spec.prompt_tokens, currency, request
            ):
                rows.append(row)
                if currency == DIEM:
                    diem_spent += row[4] * SKUS[row[2]].price_usd
    rows.sort(key=lambda row: row[0])
    return rows


def _request_rows(rng, offset, key_id, model, prompt_size, currency, request) -> list[tuple]:
    execution = int(rng.lognormvariate(7.5, 0.6))
    if model.model_type == "LLM":
        prompt = max(20, int(rng.lognormvariate(math.log(max(prompt_size * 15, 50)), 0.7)))
        completion = max(5, int(rng.lognormvariate(math.log(max(prompt_size * 3, 50)), 0.6)))
        rows = [
            (
                offset,
                key_id,
                sku_index(model.id, "Input"),
                currency,
                prompt / 1e6,
                prompt,
                completion,
                execution,
                request,
            ),
            (
                offset,
                key_id,
                sku_index(model.id, "Output"),
                currency,
                completion / 1e6,
                prompt,
                completion,
                execution,
                request,
            ),
        ]
        try:
            cache = sku_index(model.id, "Cache Read")
        except KeyError:
            cache = None
        if cache is not None and rng.random() < 0.35:
            cached = int(prompt * rng.uniform(0.2, 0.8))
            rows.append(
                (
                    offset,
                    key_id,
                    cache,
                    currency,
                    cached / 1e6,
                    prompt,
                    completion,
                    execution,
                    request,
                )
            )
        return rows
    if model.model_type == "IMAGE":
        return [
            (
                offset,
                key_id,
                sku_index(model.id, "Image"),
                currency,
                float(rng.choice((1, 1, 1, 2, 4))),
                None,
                None,
                execution * 3,
                request,
            )
        ]
    if model.model_type == "TTS":
        chars = rng.randrange(200, 4_000)
        return [
            (
                offset,
                key_id,
                sku_index(model.id, "Characters"),
                currency,
                chars / 1e6,
                None,
                None,
                execution,
                request,
            )
        ]
    seconds = rng.randrange(5, 900)
    return [
        (
            offset,
            key_id,
            sku_index(model.id, "Seconds"),
            currency,
            float(seconds),
            None,
            None,
            None,
            None,
        )
    ]


def _demo_rate_limit_log(rng: random.Random, keys: list[dict]) -> list[dict]:
    """About 70 violations over the last 30 days, mostly RPM on the busiest keys."""
    busy = [key for key in keys if key["spec"].daily_requests >= 10]
    kinds = (
        ["RPM"] * 10
        + ["TPM"] * 4
        + ["RPD"]
        + ["FAILED_REQUESTS"] * 2
        + ["UNSUPPORTED_FEATURE_REQUESTS"]
    )
    log = []
    for _ in range(70):
        key = rng.choice(busy)
        models = [m for m in key["spec"].models if MODELS_BY_ID[m].model_type == "LLM"] or [
            MODELS[0].id
        ]
        log.append(
            {
                "apiKeyId": key["id"],
                "modelId": rng.choice(models),
                "rateLimitTier": "paid",
                "rateLimitType": rng.choice(kinds),
                "offset": -rng.randrange(60_000, 30 * DAY_MS),
            }
        )
    log.sort(key=lambda item: item["offset"])
    return log
