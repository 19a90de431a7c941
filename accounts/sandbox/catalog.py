"""The models the simulated account uses: Venice-like ids, display names, SKUs and prices.

SKU names follow Venice's ledger (`zai-org-glm-5-1-llm-output-mtoken`: the model id with dots
made dashes, the kind of charge, the unit). Prices are per unit in USD; LLM units are millions
of tokens, so a 227-token completion is 0.000227 units.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sku:
    name: str
    model_id: str
    kind: str  # "Input", "Output", "Cache Read", "Image", "Characters", "Seconds"
    price_usd: float


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    model_type: str  # LLM, IMAGE, TTS, ASR
    unit_type: str  # tokens, images, chars, seconds
    rpm: int
    rpd: int
    tpm: int | None  # tokens per minute, LLMs only
    weight: float  # how much of the demo account's traffic it gets


MODELS: tuple[Model, ...] = (
    Model("zai-org-glm-5-1", "GLM 5.1", "LLM", "tokens", 50, 36_000, 750_000, 30),
    Model("kimi-k2-6", "Kimi K2.6", "LLM", "tokens", 20, 15_000, 500_000, 14),
    Model("venice-uncensored", "Venice Uncensored 1.1", "LLM", "tokens", 75, 54_000, 750_000, 12),
    Model("qwen3-235b-a22b-instruct-2507", "Qwen 3 235B", "LLM", "tokens", 20, 15_000, 500_000, 9),
    Model("mistral-31-24b", "Venice Medium", "LLM", "tokens", 75, 54_000, 750_000, 8),
    Model("llama-3.3-70b", "Llama 3.3 70B", "LLM", "tokens", 50, 36_000, 750_000, 6),
    Model("deepseek-v3.2", "DeepSeek V3.2", "LLM", "tokens", 20, 15_000, 500_000, 5),
    Model("qwen3-4b", "Venice Small", "LLM", "tokens", 500, 288_000, 1_000_000, 4),
    Model("grok-imagine-image", "Grok Imagine", "IMAGE", "images", 20, 28_800, None, 5),
    Model("venice-sd35", "Venice SD35", "IMAGE", "images", 20, 28_800, None, 3),
    Model("tts-kokoro", "Kokoro TTS", "TTS", "chars", 60, 86_400, None, 2),
    Model("nvidia-parakeet-tdt-0.6b-v3", "Parakeet ASR", "ASR", "seconds", 60, 86_400, None, 2),
)
MODELS_BY_ID = {model.id: model for model in MODELS}

# (kind, sku suffix, price per unit in USD) per model type; LLM prices vary per model below.
_LLM_PRICES = {
    "zai-org-glm-5-1": (0.55, 2.8, 0.11),
    "kimi-k2-6": (0.75, 3.2, 0.15),
    "venice-uncensored": (0.2, 0.9, None),
    "qwen3-235b-a22b-instruct-2507": (0.45, 3.5, None),
    "mistral-31-24b": (0.5, 2.0, None),
    "llama-3.3-70b": (0.7, 2.8, None),
    "deepseek-v3.2": (0.4, 1.0, 0.08),
    "qwen3-4b": (0.05, 0.15, None),
}


def _sku_stem(model_id: str) -> str:
    return model_id.replace(".", "-").replace("/", "-").replace("_", "-").lower()


def _build_skus() -> tuple[Sku, ...]:
    skus: list[Sku] = []
    for model in MODELS:
        stem = _sku_stem(model.id)
        if model.model_type == "LLM":
            price_in, price_out, price_cache = _LLM_PRICES[model.id]
            skus.append(Sku(f"{stem}-llm-input-mtoken", model.id, "Input", price_in))
            skus.append(Sku(f"{stem}-llm-output-mtoken", model.id, "Output", price_out))
            if price_cache is not None:
                skus.append(
                    Sku(f"{stem}-llm-cache-read-mtoken", model.id, "Cache Read", price_cache)
                )
        elif model.model_type == "IMAGE":
            price = 0.1 if model.id == "grok-imagine-image" else 0.01
            skus.append(Sku(f"{stem}-image-unit", model.id, "Image", price))
        elif model.model_type == "TTS":
            skus.append(Sku(f"{stem}-tts-mchars", model.id, "Characters", 3.5))
        else:
            skus.append(Sku(f"{stem}-asr-seconds", model.id, "Seconds", 0.0001))
    return tuple(skus)


SKUS: tuple[Sku, ...] = _build_skus()
SKU_INDEX = {sku.name: index for index, sku in enumerate(SKUS)}


def skus_for(model_id: str) -> list[int]:
    return [index for index, sku in enumerate(SKUS) if sku.model_id == model_id]


def sku_index(model_id: str, kind: str) -> int:
    for index, sku in enumerate(SKUS):
        if sku.model_id == model_id and sku.kind == kind:
            return index
    raise KeyError(f"{model_id} has no {kind} SKU")


CURRENCIES = ("USD", "DIEM", "BUNDLED_CREDITS")
