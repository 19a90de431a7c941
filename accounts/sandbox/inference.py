"""A SIMULATED inference endpoint, so that traffic on a key can be tried without Venice.

Not part of the account API the portal wraps (spec/venice-account-api.yaml): a minimal
`POST /chat/completions` and `GET /models` in Venice's shape. They authenticate the bearer
key exactly as Venice does (an INFERENCE or ADMIN key; an expired or deleted key is refused
with 401), answer a short canned completion, and charge the request to that key through
`Sandbox.use_key` (a usage-history entry, the key's `lastUsedAt`, the balances). No model
runs: the reply is always the same sentence.
"""

from __future__ import annotations

import json

from accounts.sandbox.catalog import MODELS, MODELS_BY_ID
from accounts.sandbox.responses import ApiError

# Paths this module serves, outside the account API's spec (the tests' conformance check
# leaves them out, tests/fixtures/sandbox.py).
SIMULATION_PATHS = frozenset({"/chat/completions", "/models"})
DEFAULT_MODEL = "llama-3.3-70b"
REPLY = "This is the Venice sandbox: no model ran, but the request was charged to your key."


class InferenceRoutes:
    """Mixed into Sandbox; `_handle` authenticates the key before these run."""

    def _chat_completions(self, *, record, body, now_ms, **_):
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON body") from None
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            raise ApiError(400, "messages: an array of chat messages is required")
        model = request.get("model") or DEFAULT_MODEL
        spec = MODELS_BY_ID.get(model)
        if spec is None or spec.model_type != "LLM":
            raise ApiError(400, f"model: {model!r} is not a text model")
        prompt_chars = sum(
            len(str(m.get("content", ""))) for m in request["messages"] if isinstance(m, dict)
        )
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = len(REPLY) // 4
        self.use_key(record.id, model=model, tokens=prompt_tokens + completion_tokens)
        answer = {
            "id": f"chatcmpl-sandbox-{self._request_counter}",
            "object": "chat.completion",
            "created": now_ms // 1000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, answer, {}

    def _models(self, **_):
        data = [
            {
                "id": model.id,
                "object": "model",
                "type": "text" if model.model_type == "LLM" else model.model_type.lower(),
            }
            for model in MODELS
        ]
        return 200, {"object": "list", "data": data}, {}
