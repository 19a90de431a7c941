"""One display name per thing, from one place: models, keys, and Venice's enum values.

Venice names a model three ways: its id on the rate-limit page (`zai-org-glm-5-1`), its display
name in the usage analytics (`GLM 5.1`), and inside each ledger entry's SKU
(`zai-org-glm-5-1-llm-input-mtoken`: the id with dots and slashes made dashes, then the kind
of charge and its unit). The ledger carries no other model field, so the SKU is parsed here,
once, for the usage pages and exports alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Venice's models by id, with the names its own dashboard and the analytics use. A model not
# listed here is shown by its id: never guessed, and still searchable.
MODEL_NAMES: dict[str, str] = {
    "zai-org-glm-5-1": "GLM 5.1",
    "kimi-k2-6": "Kimi K2.6",
    "venice-uncensored": "Venice Uncensored 1.1",
    "qwen3-235b-a22b-instruct-2507": "Qwen 3 235B",
    "mistral-31-24b": "Venice Medium",
    "llama-3.3-70b": "Llama 3.3 70B",
    "deepseek-v3.2": "DeepSeek V3.2",
    "qwen3-4b": "Venice Small",
    "grok-imagine-image": "Grok Imagine",
    "venice-sd35": "Venice SD35",
    "tts-kokoro": "Kokoro TTS",
    "nvidia-parakeet-tdt-0.6b-v3": "Parakeet ASR",
}


@dataclass(frozen=True)
class Unit:
    """A kind of unit as people count it. Venice's ledger (and so the analytics' totals) counts
    tokens and characters in millions (`-mtoken`, `-mchars`); `per_ledger_unit` is how many
    real units one of Venice's is."""

    name: str  # "tokens", "images", "chars", "seconds", "minutes", "units"
    per_ledger_unit: Decimal
    price_per: str  # what the ledger's price is per: "1M tokens", "image", ...


UNITS: dict[str, Unit] = {
    "tokens": Unit("tokens", Decimal(1_000_000), "1M tokens"),
    "chars": Unit("chars", Decimal(1_000_000), "1M chars"),
    "images": Unit("images", Decimal(1), "image"),
    "seconds": Unit("seconds", Decimal(1), "second"),
    "minutes": Unit("minutes", Decimal(1), "minute"),
}
UNKNOWN_UNIT = Unit("units", Decimal(1), "unit")


def unit_of(unit_type: str | None) -> Unit:
    return UNITS.get((unit_type or "").lower(), UNKNOWN_UNIT)


# SKU endings: (suffix, kind of charge, unit type). Longest first, so "-llm-cache-read-mtoken"
# is not read as some "-mtoken".
_SKU_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    ("-llm-cache-write-mtoken", "Cache write", "tokens"),
    ("-llm-cache-read-mtoken", "Cache read", "tokens"),
    ("-llm-output-mtoken", "Output", "tokens"),
    ("-llm-input-mtoken", "Input", "tokens"),
    ("-image-unit", "Image", "images"),
    ("-tts-mchars", "Characters", "chars"),
    ("-asr-seconds", "Audio", "seconds"),
    ("-video-seconds", "Video", "seconds"),
    ("-seconds", "Time", "seconds"),
    ("-minutes", "Time", "minutes"),
    ("-mtoken", "Tokens", "tokens"),
)


def sku_stem(model_id: str) -> str:
    """How a model id appears inside a SKU."""
    return model_id.replace(".", "-").replace("/", "-").replace("_", "-").lower()


_MODEL_BY_STEM = {sku_stem(model_id): model_id for model_id in MODEL_NAMES}


@dataclass(frozen=True)
class SkuInfo:
    sku: str
    model_id: str  # the model's id when known, else the SKU's model part
    model_name: str
    kind: str  # "Input", "Output", "Cache read", "Image", ... ("" when the SKU is unknown)
    unit: Unit


def sku_info(sku: str) -> SkuInfo:
    """What a ledger SKU charges for: `zai-org-glm-5-1-llm-input-mtoken` is GLM 5.1's input
    tokens, counted in millions. An unknown SKU keeps its whole text as the model."""
    for suffix, kind, unit_type in _SKU_SUFFIXES:
        if sku.endswith(suffix) and len(sku) > len(suffix):
            stem = sku[: -len(suffix)]
            model_id = _MODEL_BY_STEM.get(stem, stem)
            return SkuInfo(sku, model_id, model_name(model_id), kind, UNITS[unit_type])
    return SkuInfo(sku, sku, sku, "", UNKNOWN_UNIT)


def model_name(model_id: str) -> str:
    """`GLM 5.1` for `zai-org-glm-5-1`; an unknown id is its own name."""
    return MODEL_NAMES.get(model_id, model_id)


def model_id_for_name(name: str) -> str | None:
    """The id of the model the analytics call `name` (None when unknown)."""
    for model_id, known in MODEL_NAMES.items():
        if known == name:
            return model_id
    return None


# --- keys ------------------------------------------------------------------------------------

WEB_APP = "Web App"  # Venice's name for usage without a key (its web app)
UNNAMED_KEY = "(no description)"


def key_label(description: str | None, last6: str | None = "") -> str:
    """`Production backend …F80ymm`: the name people gave it, and the last six characters of
    its secret, the part Venice and the portal show everywhere to tell keys apart."""
    name = (description or "").strip() or UNNAMED_KEY
    return f"{name} …{last6}" if last6 else name


# --- Venice's enum values --------------------------------------------------------------------

LIMIT_PERIODS = {"EPOCH": "Daily", "MONTH": "Monthly", "LIFETIME": "Lifetime"}
# The same periods inside a sentence: "$500.00 per month".
LIMIT_PERIOD_PHRASES = {"EPOCH": "per day", "MONTH": "per month", "LIFETIME": "lifetime"}
MODEL_PRIVACY = {
    "ALL": "All models",
    "PRIVATE_TEXT": "Private text and embedding models",
    "PRIVATE_ONLY": "Private models only",
}
CURRENCIES = {
    "USD": "USD",
    "DIEM": "DIEM",
    "BUNDLED_CREDITS": "Bundled credits",
    "VCU": "VCU (deprecated)",
}
RATE_LIMIT_TYPES = {
    "RPM": "Requests per minute",
    "RPD": "Requests per day",
    "TPM": "Tokens per minute",
    "TPD": "Tokens per day",
    "FAILED_REQUESTS": "Too many failed requests",
    "UNSUPPORTED_FEATURE_REQUESTS": "Unsupported feature",
}


def _raw(value) -> str:
    return str(getattr(value, "value", value) or "")


def limit_period_label(value) -> str:
    raw = _raw(value)
    return LIMIT_PERIODS.get(raw, raw)


def limit_period_phrase(value) -> str:
    raw = _raw(value)
    return LIMIT_PERIOD_PHRASES.get(raw, raw.lower())


def model_privacy_label(value) -> str:
    raw = _raw(value)
    return MODEL_PRIVACY.get(raw, raw)


def currency_label(value) -> str:
    raw = _raw(value)
    return CURRENCIES.get(raw, raw)


def rate_limit_type_label(value) -> str:
    raw = _raw(value)
    return RATE_LIMIT_TYPES.get(raw, raw)
